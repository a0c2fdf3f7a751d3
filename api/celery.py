"""The Celery app shared by the tagging worker, the trainer and the web process (which only sends)."""

import os
from collections.abc import Mapping

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

app = Celery("tagloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue its own exchange and routing key: a queue declared by name alone binds to the
# default exchange with the default key, and then every queue would receive every message.
QUEUES = ("tagging", "training", "default")
app.conf.task_queues = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]
app.autodiscover_tasks()


@app.task(name="tagloop.ping")
def ping() -> str:
    """Answers so that health checks and tests can see a worker consume from a queue."""
    return "pong"


def served_queues(options: Mapping[str, object] | None) -> set[str]:
    """The queues a starting worker consumes, from the options its ``celeryd_init`` signal gets
    (``-Q tagging,default`` arrives as a string or a list)."""
    queues = (options or {}).get("queues") or []
    names = queues.split(",") if isinstance(queues, str) else queues
    return {str(name) for name in names} if isinstance(names, list | tuple | set) else set()
