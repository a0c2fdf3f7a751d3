"""Thin Celery tasks of the training queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from api.training import services

log = logging.getLogger(__name__)


@shared_task(name="api.training.tasks.run_training", ignore_result=True)
def run_training(run_id: int) -> str:
    run = services.claim_run(run_id)
    if run is None:
        log.info("training run %s is not queued any more; nothing to do", run_id)
        return "not queued"
    return services.execute_run(run).status


@shared_task(name="api.training.tasks.check_schedule", ignore_result=True)
def check_schedule() -> str:
    """Beat, every TRAIN_CHECK_MINUTES: a run when enough new vouched-for labels arrived. A queued
    run whose message was lost is sent again. Each check leaves its time and outcome for the
    dashboard."""
    return services.check_schedule()


@shared_task(name="api.training.tasks.sweep_runs", ignore_result=True)
def sweep_runs() -> int:
    return services.fail_dead_runs(
        older_than=timedelta(minutes=settings.TRAIN_STALE_RUN_MINUTES),
        reason="The trainer stopped reporting progress (it died or was killed); no model was published.",
    )
