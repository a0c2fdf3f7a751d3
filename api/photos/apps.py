from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "api.photos"
    label = "photos"
