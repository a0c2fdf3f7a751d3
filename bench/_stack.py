"""What the end-to-end benchmarks share: a throw-away database and volume, and the platform's
processes (gunicorn, Celery workers) started against them."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from trainer.allocator import model_process_env  # noqa: E402 - the repository's own package

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def pg_admin(sql: str, database: str = "postgres") -> None:
    connection = psycopg2.connect(PG_ADMIN, dbname=database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def machine_facts() -> dict[str, Any]:
    """What a result depends on: the CPU, cores, memory, Python and the commit measured."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "git_commit": commit.strip(),
    }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (empty once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def rss_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):  # a process that ended between listing and reading
            total += process.memory_info().rss
    return round(total / 2**20, 1)


def pss_mb(processes: list[psutil.Process]) -> float:
    """Proportional set size: pages shared between the processes (libraries, copy-on-write
    memory of a forked pool) counted once overall, where :func:`rss_mb` counts them in each."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_full_info().pss
    return round(total / 2**20, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """A fresh PostgreSQL database, Redis db and temporary SHARED_FS/VAR_DIR; processes started
    with :meth:`start` are stopped, and the database dropped, by :meth:`close`."""

    def __init__(self, db_name: str, redis_db: int, *, reuse_db: bool = False, **settings: str) -> None:
        self.db_name = db_name
        self.work = Path(tempfile.mkdtemp(prefix=f"{db_name}-"))
        self.env = {
            # Its workers run the model and start as production starts them.
            **model_process_env(os.environ),
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "SHARED_FS": str(self.work / "shared_fs"),
            "VAR_DIR": str(self.work / "var"),
            "THROTTLE_UPLOADS": "100000/min",
            "THROTTLE_LOGIN": "100000/min",
            "DJANGO_SETTINGS_MODULE": "api.settings",
            **settings,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        if not reuse_db:  # else the database a run kept (``close(keep_db=True)``), as it was left
            pg_admin(f"DROP DATABASE IF EXISTS {db_name}")
            pg_admin(f"CREATE DATABASE {db_name}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=self.env, check=True
        )

    def use_here(self) -> None:
        """Points this process's Django at the stack (call before importing Django models)."""
        os.environ.update(self.env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("w")
        process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def worker(
        self, queues: str, name: str, *, beat: bool = False, processes: int | None = 1
    ) -> subprocess.Popen[bytes]:
        """A Celery worker; ``processes=None`` leaves its pool's size to it, as production does
        for the tagging worker."""
        command = [sys.executable, "-m", "celery", "-A", "api", "worker", "-Q", queues,
                   "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
        if processes is not None:
            command += ["--concurrency", str(processes)]
        if beat:  # as the trainer runs in production
            command += ["--beat", "--schedule", str(self.work / f"{name}-beat-schedule")]
        return self.start(name, command)

    def web(self, *, workers: int = 1, threads: int = 4) -> str:
        port = free_port()
        self.start("gunicorn", [sys.executable, "-m", "gunicorn", "api.wsgi:application",
                                "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                                "--threads", str(threads)])  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                return base
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn did not start; see {self.work / 'gunicorn.log'}")

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text()[-3000:]

    def close(self, *, keep_work: bool = False, keep_db: bool = False) -> None:
        """Stops the processes and drops the database; ``keep_work`` keeps the temporary folder
        (logs, what the processes wrote) for a look afterwards, ``keep_db`` the database, for a
        later run to reuse."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.suppress(Exception):  # Django may never have been set up here
            from django.db import connections

            connections.close_all()
        if not keep_db:
            pg_admin(f"DROP DATABASE IF EXISTS {self.db_name}")
        if not keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
