"""Training runs as rows: start one (one at a time), claim it, end it, fail the ones whose trainer
died, and the schedule's rule. A ``TrainingRun`` row is the truth about training; a Celery message
only carries its id, sent by task name so this module never imports the tasks that call it."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.celery import app
from api.tags.models import PhotoTag, TagState
from api.training.models import TrainingRun
from api.training.selectors import LAST_CHECK_KEY
from api.volume import models_dir

log = logging.getLogger(__name__)
Status = TrainingRun.Status
# The names the training queue's tasks are registered under (``api.training.tasks``).
RUN_TRAINING = "api.training.tasks.run_training"
CHECK_SCHEDULE = "api.training.tasks.check_schedule"
SWEEP_RUNS = "api.training.tasks.sweep_runs"
INTERRUPTED = "The trainer stopped while this run was going (killed or restarted); no model was published."
SILENT = "The trainer stopped reporting progress (it died or was killed); no model was published."


class RunInProgress(Exception):
    def __init__(self, run: TrainingRun) -> None:
        super().__init__(f"Training run {run.pk} is already {run.status}.")
        self.run = run


def start_run(*, trigger: str, user: User | None = None, enqueue: bool = True) -> TrainingRun:
    """Queues a run; raises RunInProgress with the run already queued or running (the partial
    unique index makes two simultaneous requests produce one run)."""
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(trigger=trigger, requested_by=user)
            if enqueue:
                transaction.on_commit(lambda: _send_run(run.pk))
    except IntegrityError:
        active = TrainingRun.objects.filter(status__in=TrainingRun.ACTIVE_STATES).first()
        if active is None:  # it finished between our insert and this read
            return start_run(trigger=trigger, user=user, enqueue=enqueue)
        raise RunInProgress(active) from None
    return run


def _send_run(run_id: int) -> None:
    try:
        app.send_task(RUN_TRAINING, args=(run_id,), retry=True, retry_policy={"max_retries": 2})
    except Exception:
        log.warning("could not send training run %s to the trainer", run_id, exc_info=True)


def claim_run(run_id: int) -> TrainingRun | None:
    """Queued -> running, atomically: a run is executed once even if its message arrives twice."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, phase="starting"
    )
    return TrainingRun.objects.get(pk=run_id) if claimed else None


def finish(run: TrainingRun, status: str, **fields: object) -> TrainingRun:
    """Ends a run with ``status`` and the given fields; a failed run keeps the progress it had."""
    fields.update(
        status=status, finished_at=timezone.now(), progress=1.0 if status != Status.FAILED else run.progress
    )
    TrainingRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def skip(run: TrainingRun, reason: str) -> TrainingRun:
    return finish(run, Status.SKIPPED, phase="skipped", error=reason)


def last_judged_run(*, besides: TrainingRun) -> TrainingRun | None:
    """The latest run that trained a model the gate judged: its data's fingerprint says whether
    another run would learn anything new."""
    return (
        TrainingRun.objects.filter(status__in=[Status.SUCCEEDED, Status.REJECTED])
        .exclude(pk=besides.pk)
        .order_by("-finished_at")
        .first()
    )


def fail_dead_runs(*, older_than: timedelta | None = None, reason: str) -> int:
    """Runs whose trainer died: marked failed. With ``older_than`` None, every running run (a
    trainer starting up knows none of them is alive, since it runs one at a time)."""
    runs = TrainingRun.objects.filter(status=Status.RUNNING)
    if older_than is not None:
        runs = runs.filter(heartbeat_at__lt=timezone.now() - older_than)
    return runs.update(status=Status.FAILED, error=reason, finished_at=timezone.now(), phase="failed")


def fail_silent_runs() -> int:
    """The sweep's rule: a run whose heartbeat is older than ``TRAIN_STALE_RUN_MINUTES`` died."""
    return fail_dead_runs(older_than=timedelta(minutes=settings.TRAIN_STALE_RUN_MINUTES), reason=SILENT)


def clean_staging() -> None:
    """Temporary bundle folders of a publisher that died; never a published version."""
    folder = models_dir()
    if folder.is_dir():
        for staging in folder.glob(".tmp-*"):
            shutil.rmtree(staging, ignore_errors=True)


def fail_interrupted_runs() -> int:
    """A trainer starting up: every run left 'running' died with the trainer before it, and any
    half-written bundle folder is debris."""
    failed = fail_dead_runs(reason=INTERRUPTED)
    clean_staging()
    if failed:
        log.warning("marked %s interrupted training run(s) failed", failed)
    return failed


def new_labels_since_last_run() -> int:
    last = TrainingRun.objects.exclude(started_at=None).order_by("-started_at").first()
    labels = PhotoTag.objects.filter(state__in=[TagState.CONFIRMED, TagState.REJECTED])
    if last is not None and last.started_at is not None:
        labels = labels.filter(updated_at__gt=last.started_at)
    return labels.count()


def check_schedule() -> str:
    """The schedule's rule: a run once ``TRAIN_MIN_NEW_LABELS`` new vouched-for labels arrived
    since the last one; a queued run whose message was lost is sent again. The outcome, in words,
    is recorded for the dashboard and returned."""
    result = _scheduled_action()
    record_schedule_check(result=result)
    return result


def _scheduled_action() -> str:
    queued = TrainingRun.objects.filter(status=Status.QUEUED).first()
    if queued is not None:
        _send_run(queued.pk)
        return "re-sent"
    new = new_labels_since_last_run()
    if new < settings.TRAIN_MIN_NEW_LABELS:
        return f"{new} new labels, waiting for {settings.TRAIN_MIN_NEW_LABELS}"
    try:
        start_run(trigger=TrainingRun.Trigger.SCHEDULE)
    except RunInProgress:
        return "a run is in progress"
    return "started"


def record_schedule_check(*, result: str) -> None:
    """The time and outcome of the schedule's latest check, for the dashboard; kept until the
    next check overwrites it (a lost cache only means "no check recorded yet")."""
    cache.set(LAST_CHECK_KEY, {"at": timezone.now(), "result": result}, timeout=None)
