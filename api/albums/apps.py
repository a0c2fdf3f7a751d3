from django.apps import AppConfig


class AlbumsConfig(AppConfig):
    name = "api.albums"
    label = "albums"
    default_auto_field = "django.db.models.BigAutoField"
