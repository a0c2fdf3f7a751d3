"""The Celery app: its queues and one-task-at-a-time settings, proved with real workers on Redis
and on the embedded filesystem broker."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.celery import app
from tests.helpers.paths import REPO
from tests.helpers.workers import celery_worker, wait_for, worker_env

pytestmark = pytest.mark.celery_worker


def test_the_app_declares_the_three_queues_and_takes_one_long_task_at_a_time() -> None:
    assert {q.name for q in app.conf.task_queues} == {"tagging", "training", "default"}
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late is True
    assert app.conf.task_default_queue == "default"


def test_a_worker_on_the_tagging_queue_takes_only_tagging_messages(tmp_path: Path) -> None:
    app.control.purge()
    for_training, for_tagging = tmp_path / "training.txt", tmp_path / "tagging.txt"

    with celery_worker("tagging", env=worker_env(), log=tmp_path / "worker.log"):
        app.send_task(
            "tests.write_marker",
            args=[str(for_training), "training"],
            queue="training",
            routing_key="training",
        )
        app.send_task(
            "tests.write_marker", args=[str(for_tagging), "tagging"], queue="tagging", routing_key="tagging"
        )

        assert wait_for(for_tagging) == "tagging"
        time.sleep(1.0)
        assert not for_training.exists()
    app.control.purge()


def test_the_embedded_broker_needs_no_server(tmp_path: Path) -> None:
    env = worker_env(REDIS_URL=None, DATABASE_URL=None, VAR_DIR=str(tmp_path / "var"))
    marker = tmp_path / "marker.txt"

    with celery_worker("default", env=env, log=tmp_path / "worker.log"):
        send = (
            "from api.celery import app; "
            f"app.send_task('tests.write_marker', args=[{str(marker)!r}, 'filesystem'], queue='default')"
        )
        subprocess.run([sys.executable, "-c", send], cwd=REPO, env=env, check=True, timeout=60)

        assert wait_for(marker) == "filesystem"
