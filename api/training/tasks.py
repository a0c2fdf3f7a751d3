"""Thin Celery tasks of the training queue. The web process imports this module to send them, so
the pipeline (torch) is imported inside the task."""

from __future__ import annotations

import logging

from celery import shared_task

from api.tagging import backbone_switch
from api.tags.counts import REFRESH_VOCABULARY
from api.training import registry, runs, selectors

log = logging.getLogger(__name__)


@shared_task(name=runs.RUN_TRAINING, ignore_result=True)
def run_training(run_id: int) -> str:
    from api.training.pipeline import execute_run  # torch: loaded in the trainer only

    run = runs.claim_run(run_id)
    if run is None:
        log.info("training run %s is not queued any more; nothing to do", run_id)
        return "not queued"
    return execute_run(run).status


@shared_task(name=runs.CHECK_SCHEDULE, ignore_result=True)
def check_schedule() -> str:
    """Beat, every TRAIN_CHECK_MINUTES: a run when enough new vouched-for labels arrived. A queued
    run whose message was lost is sent again. Each check leaves its time and outcome for the
    dashboard."""
    return runs.check_schedule()


@shared_task(name=runs.SWEEP_RUNS, ignore_result=True)
def sweep_runs() -> int:
    """Beat: runs whose trainer stopped reporting are failed, then the registry catches up with the
    volume (bundles without a row, CURRENT re-pointed by hand); a volume that cannot be read is
    logged and must not keep dead runs alive."""
    failed = runs.fail_silent_runs()
    registry.sync_versions_or_log()
    backbone_switch.prepare_or_log()
    return failed


@shared_task(name=REFRESH_VOCABULARY, ignore_result=True)
def refresh_vocabulary() -> int:
    """Beat, every TAG_COUNTS_SECONDS (on the default queue, so a training run does not hold it
    up): what the next model will learn, for the help page, the dashboard and the API."""
    names, _ = selectors.refresh_vocabulary()
    return len(names)
