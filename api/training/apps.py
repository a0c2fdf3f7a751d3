from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "api.training"
    label = "training"

    def ready(self) -> None:
        from api.training import boot  # noqa: F401 - connects the trainer's start-up signals
