"""`make run` on the embedded defaults: no PostgreSQL, no Redis, just this repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers.images import image_bytes
from tests.helpers.paths import REPO
from tests.helpers.servers import free_port


def environment_without(*names: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(settings)
    return env


@dataclass
class Platform:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def printed(self) -> str:
        return self.log.read_text()

    def wait_until_it_prints(self, line: str, deadline: float) -> None:
        while line not in self.printed():
            assert self.process.poll() is None, self.printed()[-3000:]
            assert time.monotonic() < deadline, self.printed()[-3000:]
            time.sleep(0.5)


@contextmanager
def make_run(tmp_path: Path, env: dict[str, str]) -> Iterator[Platform]:
    """What `make run` starts, on a free port; stopped with SIGTERM as Ctrl-C stops it, and it
    must then exit cleanly."""
    port = free_port()
    log = tmp_path / "platform.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "scripts/run_platform.py", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Platform(process, f"http://127.0.0.1:{port}", log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]


@pytest.mark.celery_worker
def test_the_platform_runs_and_tags_on_sqlite_and_the_filesystem_broker(tmp_path: Path) -> None:
    env = environment_without(
        "DATABASE_URL", "REDIS_URL", "DEBUG",
        VAR_DIR=str(tmp_path / "var"), SHARED_FS=str(tmp_path / "shared_fs"),
        STATIC_ROOT=str(tmp_path / "static"), ADMIN_USERNAME="admin", ADMIN_PASSWORD="admin-pass-123",
    )  # fmt: skip
    with make_run(tmp_path, env) as platform:
        base = platform.base
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).text == "ok":
                    break
            # A read timeout too: gunicorn's socket accepts before its workers boot, slowly on a
            # loaded 2-core machine.
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert platform.process.poll() is None, platform.printed()[-3000:]
            assert time.monotonic() < deadline, platform.printed()[-3000:]
            time.sleep(0.5)

        token = requests.post(
            f"{base}/api/auth/token/", data={"username": "admin", "password": "admin-pass-123"}
        )
        headers = {"Authorization": f"Token {token.json()['token']}"}
        created = requests.post(
            f"{base}/api/photos/", headers=headers, files={"image": ("a.png", image_bytes("PNG"))}, timeout=30
        )
        assert created.status_code == 201, created.text
        feed = requests.get(f"{base}/api/photos/", timeout=10).json()
        assert [p["id"] for p in feed["results"]] == [created.json()["id"]]
        assert (tmp_path / "var" / "tagloop.sqlite3").exists()
        # The worker publishes the day-zero model on first start and tags the upload.
        photo_url = f"{base}/api/photos/{created.json()['id']}/"
        while requests.get(photo_url, timeout=10).json()["status"] != "tagged":
            assert time.monotonic() < deadline + 60, platform.printed()[-3000:]
            time.sleep(0.5)
        assert (tmp_path / "shared_fs" / "models" / "CURRENT").read_text().strip() == "0"
        # The trainer runs beat, which keeps its schedule under var/.
        assert any((tmp_path / "var").glob("celerybeat-schedule*"))
        # What it printed is one line per step and where the site is; the processes' banners,
        # Celery's warning about running as root and kombu's about the broker's host are gone.
        platform.wait_until_it_prints("Tagloop is running at", deadline)
        assert platform.printed().splitlines() == [
            "Migrating the database…",
            "Collecting static files…",
            "Starting web, tagging worker, trainer…",
            f"Tagloop is running at {base}/ — log in as admin / the password in ADMIN_PASSWORD"
            " (Ctrl-C stops it)",
        ]
    printed = platform.printed()
    assert printed.splitlines()[4] == "Stopping…"
    for noise in ("[tasks]", "-------------- ", "SecurityWarning", "superuser privileges", "No hostname"):
        assert noise not in printed, printed[-3000:]


@pytest.mark.celery_worker
def test_a_local_run_has_debug_off_and_keeps_its_own_secret_key_under_var(tmp_path: Path) -> None:
    env = environment_without(
        "DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ADMIN_USERNAME", "ADMIN_PASSWORD",
        VAR_DIR=str(tmp_path / "var"), SHARED_FS=str(tmp_path / "fs"), STATIC_ROOT=str(tmp_path / "st"),
    )  # fmt: skip
    with make_run(tmp_path, env) as platform:
        base = platform.base
        platform.wait_until_it_prints("Tagloop is running at", time.monotonic() + 120)
        key = tmp_path / "var" / "secret_key"
        password = tmp_path / "var" / "admin_password"
        assert key.stat().st_mode & 0o777 == 0o600 and password.stat().st_mode & 0o777 == 0o600
        assert f"log in as admin / the password in {password}" in platform.printed()
        # A 404 is the site's own page, not Django's debug list of URL patterns.
        missing = requests.get(f"{base}/no-such-page/", timeout=10)
        assert missing.status_code == 404
        assert "Page not found" in missing.text and "URLconf" not in missing.text
        # With DEBUG off, whitenoise still serves the static files.
        assert requests.get(f"{base}/static/web/site.css", timeout=10).status_code == 200
        token = requests.post(
            f"{base}/api/auth/token/",
            data={"username": "admin", "password": password.read_text().strip()},
            timeout=10,
        )
        assert token.status_code == 200, token.text
