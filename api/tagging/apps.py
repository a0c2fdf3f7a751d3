from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "api.tagging"
    label = "tagging"

    def ready(self) -> None:
        from api.tagging import worker_boot  # noqa: F401 - connects the worker signals
