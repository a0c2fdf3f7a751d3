"""The notification digest's beat task: thin, over api.notifications.digest, which keeps the
truth about what was sent in rows, so a second run at once sends nothing twice."""

from __future__ import annotations

from celery import shared_task

from api.notifications import digest


@shared_task(name=digest.SEND_DIGESTS, ignore_result=True)
def send_digests() -> int:
    return digest.send_digests()
