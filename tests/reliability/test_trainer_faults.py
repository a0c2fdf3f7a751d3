"""A trainer killed mid-run (SIGKILL to the whole worker, or to its pool process as the OOM killer
does): no bundle, a failed run, and the next run succeeds."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest
from django.contrib.auth.models import User

from api.celery import app
from api.training import runs
from api.training.models import TrainingRun
from tests.helpers.training import separable_photos
from tests.helpers.workers import (
    celery_worker,
    env_for_test_database,
    kill_hard,
    module_fs,
    shared_fs,
    wait_until,
)
from trainer import bundle
from trainer.manifest import HEAD_FILE

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
TRAINING_ENV = {"MIN_PHOTOS_PER_TAG": "4", "TRAIN_MAX_EPOCHS": "80"}
KILLED = "The trainer stopped while this run was going (killed or restarted); no model was published."


@pytest.mark.parametrize("victim", ["the whole trainer", "its pool process"])
def test_a_trainer_killed_mid_run_leaves_no_bundle_and_a_failed_run_and_the_next_run_succeeds(
    victim: str, shared_fs: Path, alice: User, tmp_path: Path, django_db_setup: None
) -> None:
    app.control.purge()
    separable_photos(alice, per_kind=12)
    models = shared_fs / "models"
    endless = env_for_test_database(shared_fs, MIN_PHOTOS_PER_TAG="4", TRAIN_MAX_EPOCHS="1000000",
                                    TRAIN_TOLERANCE="0", TRAIN_HEAD_SECONDS="0")  # fmt: skip
    with celery_worker("training", env=endless, log=tmp_path / "doomed.log") as doomed:
        run = runs.start_run(trigger="api")
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).epoch > 5, what="training to be under way")
        if victim == "the whole trainer":
            kill_hard(doomed)
            assert TrainingRun.objects.get(pk=run.pk).status == "running"  # nobody knows yet
        else:
            (pool,) = psutil.Process(doomed.pid).children()
            pool.send_signal(signal.SIGKILL)
            # Celery forks a new pool process, which knows the run died with the one before.
            wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == "failed", what="the run to fail")
            assert doomed.poll() is None
    # What a kill while publishing would leave: a staging folder, never a version.
    debris = models / ".tmp-1-interrupted"
    debris.mkdir()
    (debris / HEAD_FILE).write_bytes(b"half a head")

    with celery_worker(
        "training", env=env_for_test_database(shared_fs, **TRAINING_ENV), log=tmp_path / "next.log"
    ):
        wait_until(
            lambda: TrainingRun.objects.get(pk=run.pk).status == "failed", what="the dead run to be failed"
        )
        assert TrainingRun.objects.get(pk=run.pk).error == KILLED
        wait_until(lambda: not debris.exists(), what="the staging debris to be removed")
        assert bundle.list_versions(models) == [0] and bundle.current_version(models) == 0

        again = runs.start_run(trigger="api")
        wait_until(
            lambda: TrainingRun.objects.get(pk=again.pk).status not in {"queued", "running"},
            120,
            "the next run",
        )
        assert TrainingRun.objects.get(pk=again.pk).status == "succeeded"
        assert bundle.current_version(models) == 1
