"""The tag counts' beat task: thin, over api.tags.counts."""

from __future__ import annotations

from celery import shared_task

from api.tags import counts


@shared_task(name=counts.REFRESH_COUNTS, ignore_result=True)
def refresh_counts() -> int:
    return counts.refresh()
