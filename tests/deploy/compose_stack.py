"""The compose stack as the compose test drives it: ``docker compose`` with the project's files
plus tests/deploy/compose.test.yml, and the site reached from outside through nginx."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.helpers.paths import REPO
from tests.helpers.servers import free_port

PROJECT = "tagloop-composetest"
FILES = ("docker-compose.yml", "tests/deploy/compose.test.yml")
ADMIN = ("boss", "boss-pass-8342")


@dataclass
class ComposeStack:
    images: dict[str, str]  # POSTGRES_IMAGE etc.: the stand-ins
    port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        # Only what compose needs: nothing of the developer's own environment (a DATABASE_URL,
        # a DEBUG) leaks into the containers' settings.
        env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
        env.update(self.images)
        env.update(
            COMPOSE_PROJECT_NAME=PROJECT,
            SECRET_KEY="compose-test-secret-key-not-for-production-0123456789",
            WEB_PORT=str(self.port),
            # PyTorch's CPU index is not reachable from this machine: the image is built with
            # PyPI's torch (the CUDA build, which runs on the CPU as well).
            TORCH_INDEX_URL="",
            GUNICORN_WORKERS="2",
        )
        env.update(extra)
        return env

    def compose(self, *args: str, timeout: float = 900, check: bool = True, **extra: str) -> str:
        command = ["docker", "compose", *(a for f in FILES for a in ("-f", f)), *args]
        done = subprocess.run(command, cwd=REPO, env=self.env(**extra), capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-5000:]}")
        return done.stdout + done.stderr

    def docker(self, *args: str) -> str:
        """A plain ``docker`` command (inspect, volume ls) about this stack's containers."""
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def manage(self, *args: str, **env: str) -> str:
        flags = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        return self.compose("exec", "-T", *flags, "api", "python", "manage.py", *args)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", check=False, timeout=120)[-20000:]

    # ---- the site, from outside ------------------------------------------------------------

    def http(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def register(self, username: str, password: str = "a-long-pass-phrase-1") -> str:
        made = self.http("POST", "/api/auth/register/", json={"username": username, "password": password})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])

    def token(self, username: str, password: str) -> str:
        answer = self.http("POST", "/api/auth/token/", data={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    def upload(self, token: str, data: bytes, name: str = "photo.jpg", **fields: str) -> int:
        sent = self.http("POST", "/api/photos/", token, files={"image": (name, data)}, data=fields)
        assert sent.status_code == 201, sent.text
        return int(sent.json()["id"])

    def photo(self, token: str, photo_id: int) -> dict[str, Any]:
        answer = self.http("GET", f"/api/photos/{photo_id}/", token)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # a service restarting
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(1)

    def tagged(self, token: str, photo_id: int, version: int | None = None) -> bool:
        photo = self.photo(token, photo_id)
        return photo["status"] == "tagged" and (version is None or photo["model_version"] == version)
