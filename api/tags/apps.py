from django.apps import AppConfig


class TagsConfig(AppConfig):
    name = "api.tags"
    label = "tags"
