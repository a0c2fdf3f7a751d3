"""Thin Celery tasks of the tagging queue: they take no data, only wake the services up. The web
process imports this module to send them, so the model side is imported inside the task."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from api.photos import activity
from api.tagging import services

log = logging.getLogger(__name__)


@shared_task(name=services.TAG_PENDING, ignore_result=True)
def tag_pending() -> int:
    """Tags every pending photo, batch by batch. Safe to run twice or on many workers at once:
    photos are claimed atomically, so each is tagged once."""
    from api.tagging.runtime import get_runtime  # torch: loaded in worker processes only
    from api.tagging.worker import tag_until_done

    services.wake_up_taken()
    return tag_until_done(worker=services.worker_name(), runtime=get_runtime())


@shared_task(name="api.tagging.tasks.embed_for_switch", ignore_result=True)
def embed_for_switch() -> int:
    """One batch of a backbone switch's embeddings, then the next task, until the library is
    covered (api/tagging/backbone_switch.py). Waits a little while uploads are being tagged."""
    from api.tagging import backbone_switch  # torch: loaded in worker processes only

    step = backbone_switch.embed_next(batch=settings.TAGGER_SWITCH_BATCH)
    if step.more:
        backbone_switch.request_embedding(countdown=step.wait, chained=True)
    else:
        backbone_switch.chain_done()
    return step.embedded


@shared_task(name=services.SWEEP, ignore_result=True)
def sweep() -> int:
    """Periodic: frees claims of dead workers and wakes a worker if work is waiting, so a lost
    message or a restarted broker delays tagging but never loses it."""
    released = services.release_stale_claims(
        older_than=timedelta(seconds=settings.TAGGER_STALE_CLAIM_SECONDS)
    )
    if released:
        log.warning("released %s stale tagging claims", released)
    activity.prune()
    if services.work_waiting(active_version=services.active_version()):
        services.request_tagging()
    from api.tagging import backbone_switch

    switch = backbone_switch.status()
    if switch is not None and switch.backlog:
        backbone_switch.request_embedding()
    return released
