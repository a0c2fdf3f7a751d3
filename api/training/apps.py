from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "api.training"
    label = "training"
