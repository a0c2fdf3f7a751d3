"""Servers that fault tests own, so they can stop and restart them without touching the shared
services other people's tests use: a private Redis and a private PostgreSQL cluster on free
ports, and gunicorn serving the API."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from glob import glob
from pathlib import Path

import psycopg2
import redis
import requests

from tests.helpers.paths import REPO
from tests.helpers.workers import stop_group, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(call: Callable[[], object]) -> Callable[[], bool]:
    """For wait_until: a server that refuses the call is not up yet."""

    def check() -> bool:
        try:
            return bool(call())
        except Exception:  # noqa: BLE001 - every error means "not yet"
            return False

    return check


class PrivateRedis:
    """``redis-server`` on a free port with persistence off, so a restart loses every queued
    message: the harshest restart there is."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(answers(redis.Redis(port=self.port, socket_timeout=1).ping), 30, "the private Redis")

    def kill(self) -> None:
        """SIGKILL: what a crashed or OOM-killed Redis does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _postgres_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return on_path


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temporary folder. initdb refuses to run as root, so
    as root the cluster belongs to the ``postgres`` system user."""

    def __init__(self) -> None:
        self.as_owner: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="tagloop-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.data = self.folder / "data"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_owner, _postgres_bin(tool), *args], check=True, capture_output=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` drops every connection at once and recovers on the next start, as after
        a crash; ``fast`` is an orderly restart."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def gunicorn(*, env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The API under gunicorn, as in production (one worker, four threads); yields its base URL
    once it answers, and the master process."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "api.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "4", "--timeout", "60"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(answers(lambda: requests.get(f"{base}/healthz", timeout=2).ok), 60, f"gunicorn ({log})")
        yield base, process
    finally:
        stop_group(process)
