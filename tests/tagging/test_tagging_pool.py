"""A tagging worker's pool on a CPU: how many processes, with how many torch threads each, and that
they share a backlog with each photo tagged once (a real worker)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from billiard import cpu_count
from celery.utils.sysinfo import cpu_budget
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging import pool, worker, worker_boot
from api.tagging.models import WorkerStatus
from api.tagging.pool import claim_size, pool_size, torch_threads
from api.tagging.runtime import get_runtime
from api.tagging.services import claim_batch, unclaimed_work
from api.training.models import ModelVersion
from tests.helpers.images import image_bytes
from tests.helpers.workers import (
    TaggingEvents,
    celery_worker,
    env_for_test_database,
    module_fs,
    shared_fs,
    tagging_events,
    wait_until,
)

__all__ = ["module_fs", "shared_fs", "tagging_events"]  # fixtures this module uses


@pytest.mark.parametrize(("cores", "processes"), [(1, 1), (2, 2), (4, 4), (16, 4)])
def test_on_a_cpu_each_core_gets_a_pool_process_up_to_four(cores: int, processes: int) -> None:
    assert pool_size(requested=0, cores=cores, sqlite=False, gpu=False) == processes


def test_a_gpu_is_fed_by_one_process() -> None:
    assert pool_size(requested=0, cores=16, sqlite=False, gpu=True) == 1


def test_sqlite_takes_one_writer_so_it_gets_one_process_whatever_is_configured() -> None:
    assert pool_size(requested=0, cores=2, sqlite=True, gpu=False) == 1
    assert pool_size(requested=3, cores=2, sqlite=True, gpu=False) == 1


def test_a_configured_number_of_processes_is_kept() -> None:
    assert pool_size(requested=3, cores=2, sqlite=False, gpu=False) == 3
    assert pool_size(requested=2, cores=8, sqlite=False, gpu=True) == 2


@pytest.mark.parametrize(("cores", "processes", "threads"), [(2, 2, 1), (16, 4, 4), (2, 3, 1), (8, 1, 8)])
def test_each_process_takes_its_share_of_the_cores_and_at_least_one_thread(
    cores: int, processes: int, threads: int
) -> None:
    assert torch_threads(cores=cores, processes=processes) == threads


@pytest.mark.parametrize(
    ("waiting", "claim"),
    [(100, 16), (32, 16), (20, 10), (9, 5), (6, 4), (1, 4)],
)
def test_claims_shrink_to_an_even_share_as_a_backlog_runs_out_but_not_under_a_forward_pass(
    waiting: int, claim: int
) -> None:
    assert claim_size(batch=16, waiting=waiting, processes=2, smallest=4) == claim


def test_a_batch_smaller_than_a_forward_pass_is_claimed_whole() -> None:
    assert claim_size(batch=2, waiting=100, processes=2, smallest=4) == 2
    assert claim_size(batch=2, waiting=1, processes=2, smallest=4) == 2


@pytest.mark.django_db
def test_unclaimed_work_counts_uploads_and_re_tagging_up_to_a_bound(shared_fs: Path, alice: User) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(40 * n, 9, 9))) for n in range(6)]
    Photo.objects.filter(pk__in=[p.pk for p in photos[:2]]).update(status="tagged", model_version=0)
    Photo.objects.filter(pk=photos[2].pk).update(claimed_at=timezone.now(), claimed_by="elsewhere")

    assert unclaimed_work(active_version=1, most=100) == 5  # 3 uploads, 2 tagged by version 0
    assert unclaimed_work(active_version=0, most=100) == 3
    assert unclaimed_work(active_version=None, most=100) == 3
    assert unclaimed_work(active_version=1, most=4) == 4
    assert unclaimed_work(active_version=1, most=2) == 2


@pytest.mark.django_db
def test_claims_take_uploads_first_then_every_other_version_newest_first(
    shared_fs: Path, alice: User
) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(30 * n, 7, 7))) for n in range(7)]
    pending, older, oldest, newer, unknown, current, held = photos
    for photo, version in ((older, 1), (oldest, 0), (newer, 3), (unknown, None), (current, 2), (held, 1)):
        Photo.objects.filter(pk=photo.pk).update(status="tagged", model_version=version)
    Photo.objects.filter(pk=held.pk).update(claimed_at=timezone.now(), claimed_by="elsewhere")

    claimed = claim_batch(worker="me", size=10, active_version=2)

    # A rolled-back site re-tags the photos of the newer version too; nobody's photo is taken twice.
    assert [p.pk for p in claimed] == sorted([pending.pk, older.pk, oldest.pk, newer.pk, unknown.pk])
    assert claim_batch(worker="me", size=10, active_version=2) == []
    Photo.objects.filter(pk__in=[p.pk for p in claimed]).update(claimed_at=None, claimed_by="")
    first = claim_batch(worker="me", size=3, active_version=2)
    assert [p.pk for p in first] == sorted([pending.pk, older.pk, oldest.pk])  # older versions first


def _boot(monkeypatch: pytest.MonkeyPatch, *, queues: str, concurrency: Any) -> SimpleNamespace:
    """What a worker's start-up signal leaves: its Celery settings, as the signal changed them."""
    monkeypatch.setattr(worker_boot, "_serves_tagging", worker_boot._serves_tagging)
    monkeypatch.setattr(pool, "_pool_processes", pool.pool_processes())
    conf = SimpleNamespace(worker_concurrency=None)
    worker_boot.remember_queues(conf=conf, options={"queues": queues, "concurrency": concurrency})
    return conf


def test_a_tagging_worker_started_without_concurrency_sizes_its_pool_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "TAGGER_PROCESSES", 3)
    monkeypatch.setattr(pool, "connections", {"default": SimpleNamespace(vendor="postgresql")})
    conf = _boot(monkeypatch, queues="tagging,default", concurrency=None)
    assert conf.worker_concurrency == 3
    assert pool.pool_processes() == 3


def test_a_concurrency_on_the_command_line_wins_and_other_workers_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "TAGGER_PROCESSES", 2)
    conf = _boot(monkeypatch, queues="tagging", concurrency=3)
    assert conf.worker_concurrency is None
    assert pool.pool_processes() == 3
    trainer = _boot(monkeypatch, queues="training", concurrency=None)
    assert trainer.worker_concurrency is None


def test_the_pool_size_is_read_as_celery_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _boot(monkeypatch, queues="tagging", concurrency="auto")
    assert pool.pool_processes() == cpu_budget(use_cgroup_quota=True).count
    _boot(monkeypatch, queues="tagging", concurrency="a few")
    assert pool.pool_processes() == cpu_count()  # Celery's fallback too


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_pool_of_three_shares_a_backlog_each_photo_tagged_once_from_one_wake_up(
    shared_fs: Path, alice: User, tmp_path: Path, tagging_events: TaggingEvents
) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(n, 90, 255 - n))) for n in range(0, 240, 10)]
    # Three, not this machine's core count: Celery's own default would give as many.
    env = env_for_test_database(shared_fs, TAGGER_PROCESSES="3", TAGGER_BATCH_SIZE="2")
    with celery_worker("tagging", env=env, log=tmp_path / "worker.log", processes=None):
        wait_until(
            lambda: not Photo.objects.exclude(status="tagged").exists(), timeout=120, what="the backlog"
        )
        events = tagging_events()
        assert sorted(event.photo for event in events) == sorted(p.pk for p in photos)
        # The uploads sent one wake-up; the process that took it left work waiting and woke
        # another, which tagged photos too.
        assert len({event.worker for event in events}) >= 2
        # Each pool process loaded the model and beats.
        loaded = WorkerStatus.objects.filter(model_version__isnull=False, device="cpu")
        wait_until(lambda: loaded.count() == 3, what="three pool processes")
        assert {event.worker for event in events} <= {status.name for status in loaded}
        # The process that published version 0 registered it: pages and the API only read the rows.
        registered = ModelVersion.objects.filter(version=0, status="active")
        wait_until(registered.exists, what="version 0 in the registry")


@pytest.mark.django_db(transaction=True)
def test_in_a_pool_a_loop_wakes_another_once_and_claims_shares_as_the_backlog_ends(
    shared_fs: Path, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [upload_photo(owner=alice, data=image_bytes(color=(20 * n, 9, 9))) for n in range(12)]
    monkeypatch.setattr(settings, "TAGGER_BATCH_SIZE", 8)
    wake_ups: list[None] = []
    monkeypatch.setattr(worker, "request_tagging", lambda: wake_ups.append(None))
    sizes: list[int] = []
    claim = worker.claim_batch

    def recorded_claim(*, size: int, **kwargs: Any) -> list[Photo]:
        sizes.append(size)
        return claim(size=size, **kwargs)

    monkeypatch.setattr(worker, "claim_batch", recorded_claim)
    assert get_runtime().current().cpu_chunk == 4

    assert worker._tag_loop(worker="w", runtime=get_runtime(), processes=2) == len(photos)
    # Half of 12; then a forward pass's 4 with 6 and then 2 left; then the claim that finds none.
    assert sizes == [6, 4, 4, 4]
    assert len(wake_ups) == 1


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
        worker._tag_loop(worker="w", runtime=get_runtime(), processes=1)

    # Both the batch in hand and the one claimed ahead are free for any worker, not in 10 minutes.
    assert [p.claimed_by for p in Photo.objects.filter(pk__in=[p.pk for p in photos])] == ["", "", ""]
