"""A tagging worker runs several loops side by side on a CPU: how many, with how many torch
threads each, and that they share a backlog with each photo tagged once (a real worker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging import worker
from api.tagging.runtime import ModelRuntime, get_runtime
from api.tagging.tasks import tag_pending
from api.tagging.worker import loop_plan
from tests.conftest import image_bytes
from tests.workers import (
    TaggingEvents,
    celery_worker,
    env_for_test_database,
    module_fs,
    shared_fs,
    tagging_events,
    wait_until,
)

__all__ = ["module_fs", "shared_fs", "tagging_events"]  # fixtures this module uses

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("cores", "loops", "threads"),
    [(1, 1, 1), (2, 2, 1), (4, 4, 1), (16, 4, 4)],
)
def test_on_a_cpu_each_core_runs_a_loop_with_one_thread_up_to_four_loops(
    cores: int, loops: int, threads: int
) -> None:
    assert loop_plan(device=CPU, requested=0, cores=cores, sqlite=False) == (loops, threads)


def test_a_gpu_is_fed_by_one_loop() -> None:
    assert loop_plan(device=CUDA, requested=0, cores=16, sqlite=False) == (1, 16)


def test_sqlite_takes_one_writer_so_it_gets_one_loop_with_every_thread_whatever_is_configured() -> None:
    assert loop_plan(device=CPU, requested=0, cores=2, sqlite=True) == (1, 2)
    assert loop_plan(device=CPU, requested=3, cores=2, sqlite=True) == (1, 2)


def test_a_configured_number_of_loops_shares_the_cores_and_keeps_at_least_one_thread_each() -> None:
    assert loop_plan(device=CPU, requested=3, cores=2, sqlite=False) == (3, 1)
    assert loop_plan(device=CPU, requested=2, cores=8, sqlite=False) == (2, 4)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_three_loops_share_a_backlog_each_photo_tagged_once_each_loop_on_its_own_connection(
    shared_fs: Path, alice: User, tmp_path: Path, tagging_events: TaggingEvents
) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(n, 90, 255 - n))) for n in range(0, 240, 10)]
    env = env_for_test_database(shared_fs, TAGGER_LOOPS="3", TAGGER_BATCH_SIZE="2")
    with celery_worker("tagging", env=env, log=tmp_path / "worker.log"):
        wait_until(
            lambda: not Photo.objects.exclude(status="tagged").exists(), timeout=120, what="the backlog"
        )
        events = tagging_events()
        assert sorted(event.photo for event in events) == sorted(p.pk for p in photos)
        # One loop starts; each that claims a full batch starts another: three connections wrote.
        assert len({event.backend for event in events}) == 3
        # The loops on pool threads close their connections as they end; the first loop runs on the
        # task's own thread and keeps its connection for the next wake-up.
        wait_until(lambda: len(_still_connected({e.backend for e in events})) <= 1, what="closing")
        tag_pending.delay()
        wait_until(lambda: len(_still_connected({e.backend for e in events})) <= 1, what="closing")
        assert len(tagging_events()) == len(photos)


def test_a_failing_loop_lets_the_others_finish_the_backlog_and_its_failure_is_raised_after_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backlog = list(range(8))  # batches
    done: list[int] = []
    lock = threading.Lock()

    def take() -> int | None:
        with lock:
            return backlog.pop() if backlog else None

    def loop(*, on_full_batch: Callable[[], None] | None, **_: Any) -> int:
        assert on_full_batch is not None
        mine = 0
        while (batch := take()) is not None:
            on_full_batch()  # starts another loop while fewer than the most run
            if threading.current_thread() is threading.main_thread():
                raise RuntimeError("the first loop failed")  # its batch is lost to this fake
            time.sleep(0.05)
            done.append(batch)
            mine += 1
        return mine

    monkeypatch.setattr(worker, "_tag_loop", loop)

    with pytest.raises(RuntimeError, match="the first loop failed"):
        worker._GrowingLoops(3, worker="w", runtime=ModelRuntime()).run()
    assert sorted(done) == list(range(7))  # every other batch, by the loops still running
    assert not backlog


@pytest.mark.django_db(transaction=True)
def test_a_loop_that_fails_mid_batch_gives_its_claims_back_at_once(
    shared_fs: Path, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(60 * n, 9, 9))) for n in range(3)]

    def database_fails(*_: Any, **__: Any) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(worker, "tag_batch", database_fails)
    monkeypatch.setattr(settings, "TAGGER_BATCH_SIZE", 2)

    with pytest.raises(RuntimeError, match="went away"):
        worker._tag_loop(worker="w", runtime=get_runtime(), on_full_batch=None, decode_ahead=True)

    # Both the batch in hand and the one claimed ahead are free for any worker, not in 10 minutes.
    assert [p.claimed_by for p in Photo.objects.filter(pk__in=[p.pk for p in photos])] == ["", "", ""]


def _still_connected(backends: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(backends)])
        return {int(pid) for (pid,) in cursor.fetchall()}
