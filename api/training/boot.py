"""Trainer start-up. A trainer runs one run at a time, so when it starts no run can be going: any
run left 'running' died with the trainer before it, and any half-written bundle folder is debris.
Connected in ``TrainingConfig.ready``; other workers ignore it."""

from __future__ import annotations

from typing import Any

from celery.signals import celeryd_init, worker_process_init, worker_ready

from api.celery import served_queues
from api.tagging import backbone_switch
from api.tagging.pool import pool_processes
from api.training import runs

_serves_training = False


@celeryd_init.connect
def remember_training_queue(options: dict[str, Any] | None = None, **_: Any) -> None:
    global _serves_training
    _serves_training = "training" in served_queues(options)


@worker_ready.connect
def recover_training(**_: Any) -> None:
    if _serves_training:
        runs.fail_interrupted_runs()
        # A site restarted with TAGGER_BACKBONE naming another backbone: the switch starts now.
        backbone_switch.prepare_or_log()


@worker_process_init.connect
def recover_training_in_a_new_pool_process(**_: Any) -> None:
    """The OOM killer picks the pool process that trains, not the trainer, and Celery forks a new
    one: with a single pool process (as the trainer runs), a new one means the run in progress
    died with the one before."""
    if _serves_training and pool_processes() == 1:
        runs.fail_interrupted_runs()
