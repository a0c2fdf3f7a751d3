"""Parts of the stack dying under real processes: a tagging worker SIGKILLed mid-batch, Redis
restarted while uploads go on, PostgreSQL restarted under the API. Nothing is lost, nothing is
done twice, and everything recovers without a restart of the parts that stayed up."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from django.contrib.auth.models import User

from api.accounts.services import token_for
from api.celery import app
from api.middleware import DATABASE_DOWN
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging.models import PhotoEmbedding, WorkerStatus
from api.tagging.services import alive_cutoff
from api.tagging.tasks import sweep
from tests.helpers.clients import stored_files
from tests.helpers.images import image_bytes
from tests.helpers.paths import REPO
from tests.helpers.servers import gunicorn, private_postgres, private_redis
from tests.helpers.workers import (
    TaggingEvents,
    celery_worker,
    env_for_test_database,
    kill_hard,
    module_fs,
    shared_fs,
    tagging_events,
    wait_until,
)

__all__ = ["module_fs", "shared_fs", "tagging_events"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def pool_process(worker: psutil.Process) -> psutil.Process:
    """The prefork child that runs the tasks (and holds the model and the claims)."""
    (child,) = worker.children()
    return child


def worker_name(process: psutil.Process) -> str:
    """The name the process reports its heartbeat under (its start token is its own)."""
    prefix = f"{os.uname().nodename}:{process.pid}:"
    wait_until(lambda: WorkerStatus.objects.filter(name__startswith=prefix).exists(), what="a heartbeat")
    return WorkerStatus.objects.get(name__startswith=prefix).name


@pytest.mark.parametrize("victim", ["the whole worker", "its pool process"])
def test_a_tagging_worker_killed_mid_batch_leaves_every_photo_tagged_exactly_once(
    victim: str,
    shared_fs: Path,
    alice: User,
    tmp_path: Path,
    tagging_events: TaggingEvents,
    settings: Any,
) -> None:
    app.control.purge()
    backlog = [upload_photo(owner=alice, data=image_bytes(color=(n, 255 - n, 90))) for n in range(0, 240, 5)]
    env = env_for_test_database(shared_fs)
    settings.WORKER_HEARTBEAT_SECONDS = int(env["WORKER_HEARTBEAT_SECONDS"])  # as the workers see it
    with ExitStack() as workers:
        first = workers.enter_context(celery_worker("tagging", env=env, log=tmp_path / "first.log"))
        pool = pool_process(psutil.Process(first.pid))
        wait_until(lambda: Photo.objects.filter(status="tagged").count() >= 4, what="the first batches")
        dead = worker_name(pool)

        if victim == "the whole worker":
            kill_hard(first)  # SIGKILL to the master and its pool: a crashed container
        else:
            pool.send_signal(signal.SIGKILL)  # the OOM killer's pick: Celery forks a new pool process
            pool.wait()

        stranded = Photo.objects.filter(claimed_by=dead, status="pending").count()
        tagged = Photo.objects.filter(status="tagged").count()
        assert stranded > 0 and 0 < tagged < len(backlog), (stranded, tagged)  # really mid-batch
        if victim == "the whole worker":
            workers.enter_context(celery_worker("tagging", env=env, log=tmp_path / "second.log"))

        # The dead process's heartbeat stops; beat's sweep (sent here by hand) frees its claims.
        wait_until(
            lambda: not WorkerStatus.objects.filter(name=dead, last_seen__gte=alive_cutoff()).exists(),
            what="the dead worker's heartbeat to go silent",
        )
        sweep.delay()
        wait_until(
            lambda: not Photo.objects.exclude(status="tagged").exists(), 90, "every photo to be tagged"
        )

    per_photo = Counter(event.photo for event in tagging_events())
    assert set(per_photo) == {p.pk for p in backlog}
    assert set(per_photo.values()) == {1}, "a photo was tagged twice"
    assert not Photo.objects.filter(claimed_at__isnull=False).exists()
    assert PhotoEmbedding.objects.count() == len(backlog)


PHOTO_NUMBERS = itertools.count()  # every upload of the module a distinct photo


class Uploader:
    """Clients uploading distinct photos through the API, one after another each, until told to
    stop; every answer is kept."""

    def __init__(self, base: str, token: str, clients: int = 2) -> None:
        self.base, self.token = base, token
        self.answers: list[int] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _client(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        while not self._stop.is_set():
            n = next(PHOTO_NUMBERS)
            photo = image_bytes("PNG", color=(n % 256, n // 256, 33))  # lossless, so never a duplicate
            try:
                status = session.post(
                    f"{self.base}/api/photos/", files={"image": ("p.png", photo)}, timeout=30
                ).status_code
            except requests.RequestException:
                status = 0
            self.answers.append(status)

    def wait_for(self, more: int) -> None:
        target = len(self.answers) + more
        wait_until(lambda: len(self.answers) >= target, 60, f"{more} more uploads")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_uploads_go_on_while_redis_restarts_and_every_photo_is_tagged_exactly_once(
    shared_fs: Path, alice: User, tmp_path: Path, tagging_events: TaggingEvents
) -> None:
    with private_redis(tmp_path) as broker:
        env = env_for_test_database(shared_fs, REDIS_URL=broker.url, TAGGER_SWEEP_SECONDS="5")
        with (
            celery_worker("tagging", env=env, log=tmp_path / "worker.log", beat=True) as worker,
            gunicorn(env=env, log=tmp_path / "gunicorn.log") as (base, _),
        ):
            token = token_for(alice)
            during = Uploader(base, token)
            try:
                during.wait_for(5)
                broker.kill()
                during.wait_for(5)  # uploads made while Redis is down: their wake-up messages are lost
                broker.start()
            finally:
                during.stop()
            # The worker reconnects by itself and tags what waits when woken: by a message that
            # survived, or at the latest by beat's sweep, which finds the photos left pending.
            wait_until(lambda: not Photo.objects.exclude(status="tagged").exists(), 60, "the sweep")

            after = Uploader(base, token)
            try:
                after.wait_for(5)
            finally:
                after.stop()
            wait_until(lambda: not Photo.objects.exclude(status="tagged").exists(), 60, "the last uploads")
            assert worker.poll() is None, "the worker died with Redis"

    answers = during.answers + after.answers
    assert Counter(answers) == {201: len(answers)}
    assert Photo.objects.count() == len(answers)
    per_photo = Counter(event.photo for event in tagging_events())
    assert len(per_photo) == len(answers) and set(per_photo.values()) == {1}


def test_while_postgresql_restarts_the_api_answers_503_and_then_recovers_by_itself(
    shared_fs: Path, tmp_path: Path
) -> None:
    app.control.purge()
    with private_postgres() as cluster:
        cluster.create_database("tagloop")
        env = env_for_test_database(shared_fs, DATABASE_URL=cluster.url("tagloop"), DEBUG="0",
                                    SECRET_KEY="only-for-this-test")  # fmt: skip
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)
        with (
            celery_worker("tagging", env=env, log=tmp_path / "worker.log"),
            gunicorn(env=env, log=tmp_path / "gunicorn.log") as (base, server),
        ):
            api = requests.Session()
            signup = api.post(
                f"{base}/api/auth/register/", json={"username": "dora", "password": "a-strong-pass-42"}
            )
            api.headers["Authorization"] = f"Token {signup.json()['token']}"
            before = api.post(f"{base}/api/photos/", files={"image": ("a.png", image_bytes("PNG"))})
            assert before.status_code == 201
            processes = {p.pid for p in psutil.Process(server.pid).children()} | {server.pid}

            files = stored_files(shared_fs)
            cluster.stop("immediate")  # every connection dropped at once, as in a crash

            feed = api.get(f"{base}/api/photos/")
            assert feed.status_code == 503 and feed.headers["Retry-After"] == "30"
            assert feed.json() == {"detail": DATABASE_DOWN}
            refused = api.post(f"{base}/api/photos/", files={"image": ("b.png", image_bytes("PNG", color=7))})
            assert (refused.status_code, refused.json()) == (503, {"detail": DATABASE_DOWN})
            assert stored_files(shared_fs) == files  # the refused upload wrote nothing
            page = requests.get(f"{base}/", headers={"Accept": "text/html"})
            assert page.status_code == 503 and "text/html" in page.headers["Content-Type"]
            assert "Tagloop is back in a moment" in page.text and DATABASE_DOWN in page.text

            cluster.start()

            assert api.get(f"{base}/api/photos/").status_code == 200  # the first request after
            after = api.post(f"{base}/api/photos/", files={"image": ("c.png", image_bytes("PNG", color=9))})
            assert after.status_code == 201
            photos = [f"{base}/api/photos/{answer.json()['id']}/" for answer in (before, after)]
            # The worker lived through the restart too: it tags again without being restarted.
            wait_until(lambda: {api.get(url).json()["status"] for url in photos} == {"tagged"}, 60, "tagging")
            assert {p.pid for p in psutil.Process(server.pid).children()} | {server.pid} == processes
