"""A task that only tests load into a real worker (``-I tests.helpers.celery_probe``): its side
effect, a file, shows which worker consumed which queue."""

from pathlib import Path

from celery import shared_task


@shared_task(name="tests.write_marker")
def write_marker(path: str, text: str) -> None:
    Path(path).write_text(text)
