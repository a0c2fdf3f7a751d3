from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "api.tagging"
    label = "tagging"
