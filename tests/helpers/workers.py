"""Real Celery worker processes for tests, and what tests with them share."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.paths import REPO
from trainer import bundle
from trainer.allocator import model_process_env
from trainer.day_zero import ensure_active_model


def worker_env(**overrides: str | None) -> dict[str, str]:
    """A worker's environment as production starts it: with the model processes' allocator
    settings."""
    env = model_process_env(os.environ)
    env.setdefault("DEBUG", "1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def env_for_test_database(shared_fs: Path, **extra: str) -> dict[str, str]:
    """A worker's environment pointing at the test database (unless ``extra`` names another) and
    the test's shared volume."""
    base = urlsplit(worker_env()["DATABASE_URL"])
    url = urlunsplit(base._replace(path="/" + str(connection.settings_dict["NAME"])))
    defaults = {"TAGGER_DEVICE": "cpu", "TAGGER_BATCH_SIZE": "4", "WORKER_HEARTBEAT_SECONDS": "1"}
    return worker_env(**{"DATABASE_URL": url, "SHARED_FS": str(shared_fs), **defaults, **extra})


class TaggingEvent(NamedTuple):
    photo: int
    worker: str  # the worker that held the claim
    backend: int  # PostgreSQL's process id of the connection that wrote it


TaggingEvents = Callable[[], list[TaggingEvent]]


@pytest.fixture
def tagging_events(django_db_setup: None) -> Iterator[TaggingEvents]:
    """Every committed write of a photo's tagging result, by any process or thread, recorded by a
    trigger in the database itself."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE test_tagging_events "
            "(photo_id bigint NOT NULL, worker text NOT NULL, backend int NOT NULL)"
        )
        cursor.execute(
            "CREATE FUNCTION test_record_tagging() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO test_tagging_events VALUES (NEW.id, OLD.claimed_by, pg_backend_pid()); "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_tagging_events AFTER UPDATE ON photos_photo FOR EACH ROW "
            "WHEN (NEW.tagged_at IS DISTINCT FROM OLD.tagged_at) EXECUTE FUNCTION test_record_tagging()"
        )

    def events() -> list[TaggingEvent]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT photo_id, worker, backend FROM test_tagging_events")
            return [TaggingEvent(int(p), str(w), int(b)) for p, w, b in cursor.fetchall()]

    yield events
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_tagging_events ON photos_photo")
        cursor.execute("DROP FUNCTION test_record_tagging()")
        cursor.execute("DROP TABLE test_tagging_events")


@contextmanager
def celery_worker(
    queues: str,
    *,
    env: dict[str, str],
    log: Path,
    include: str = "tests.helpers.celery_probe",
    beat: bool = False,
    processes: int | None = 1,
) -> Iterator[subprocess.Popen[bytes]]:
    """Starts ``celery worker`` consuming ``queues`` (in its own process group, so the pool dies
    with it) and waits until it says it is ready. With ``beat``, it runs the periodic tasks too,
    as the trainer does in production; ``processes=None`` leaves the pool's size to the worker."""
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [sys.executable, "-m", "celery", "-A", "api", "worker", "-Q", queues,
               "-n", name, "-I", include, "--without-gossip", "--without-mingle", "-l", "INFO"]  # fmt: skip
    if processes is not None:
        command += ["--concurrency", str(processes)]
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".schedule"))]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while "ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        stop_group(process)


@contextmanager
def tagging_and_training_workers(env: dict[str, str], logs: Path) -> Iterator[None]:
    """A tagging worker and a trainer, as the whole loop needs them, on an empty queue."""
    from api.celery import app

    app.control.purge()
    with (
        celery_worker("tagging", env=env, log=logs / "tagging.log"),
        celery_worker("training", env=env, log=logs / "trainer.log"),
    ):
        yield


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to a process started in its own session and to its children; SIGKILL to those
    still there after 20 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the worker and its pool: what a crash or the OOM killer does."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.1)
    return path.read_text()


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def tagged(photo_id: int, version: int | None = None) -> Callable[[], bool]:
    def check() -> bool:
        photo = Photo.objects.get(pk=photo_id)
        return photo.status == "tagged" and (version is None or photo.model_version == version)

    return check


def photo_nobody_can_claim(owner: User, data: bytes) -> Photo:
    """A pending photo claimed long ago by a worker that died: no live worker touches it until
    the sweep frees it."""
    with transaction.atomic():
        photo = upload_photo(owner=owner, data=data)
        Photo.objects.filter(pk=photo.pk).update(
            claimed_by="dead-worker:1", claimed_at=timezone.now() - timedelta(hours=2)
        )
    return photo


@pytest.fixture(scope="module")
def module_fs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("worker_fs")
    ensure_active_model(root / "models")
    return root


@pytest.fixture
def shared_fs(settings: Any, module_fs: Path) -> Path:
    """Replaces conftest's per-test volume in modules that import it: the module's volume,
    shared with its workers, reset to version 0 serving."""
    settings.SHARED_FS = module_fs
    models = module_fs / "models"
    bundle.activate(models, 0)
    for version in bundle.list_versions(models):
        if version != 0:
            shutil.rmtree(bundle.bundle_dir(models, version))
    return module_fs
