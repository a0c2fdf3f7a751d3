"""Thin Celery tasks of the training queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from api.training import services
from api.training.models import TrainingRun

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
    result = _check_schedule()
    services.record_schedule_check(result=result)
    return result


def _check_schedule() -> str:
    queued = TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).first()
    if queued is not None:
        run_training.delay(queued.pk)
        return "re-sent"
    new = services.new_labels_since_last_run()
    if new < settings.TRAIN_MIN_NEW_LABELS:
        return f"{new} new labels, waiting for {settings.TRAIN_MIN_NEW_LABELS}"
    try:
        services.start_run(trigger=TrainingRun.Trigger.SCHEDULE)
    except services.RunInProgress:
        return "a run is in progress"
    return "started"


@shared_task(name="api.training.tasks.sweep_runs", ignore_result=True)
def sweep_runs() -> int:
    return services.fail_dead_runs(
        older_than=timedelta(minutes=settings.TRAIN_STALE_RUN_MINUTES),
        reason="The trainer stopped reporting progress (it died or was killed); no model was published.",
    )
