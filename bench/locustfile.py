"""Locust users for the API load benchmark (driven by ``bench/bench_api_load.py``).

Pick the phase by naming the user class on the command line::

    locust -f bench/locustfile.py --headless -u 8 -r 8 -t 60s --host http://127.0.0.1:8000 UploadUser
    locust -f bench/locustfile.py --headless -u 8 -r 8 -t 60s --host http://127.0.0.1:8000 FeedUser

Inputs come from environment variables that the runner sets:

- ``BENCH_TOKENS_FILE``: JSON list of ``{"username": ..., "token": ...}``; simulated user *i* signs in
  with entry ``i % len(list)``, so 8 users with 8 tokens are 8 distinct accounts.
- ``BENCH_IMAGES_DIR``: folder of distinct JPEGs made beforehand. All users draw from one queue, so
  no file is sent twice, whichever client goes fastest (an owner sending the same bytes twice
  gets 409).
- ``BENCH_TAGS``: comma-separated tag names used in uploads and in ``?tag=`` feed queries.
- ``BENCH_RAW_OUT`` (optional): where to write every request's name, status, latency and time, so the
  runner can compute exact percentiles (locust's own CSV rounds times above 100 ms).
- ``BENCH_CONNECTION`` (optional): ``close`` sends ``Connection: close``, so every request opens a new
  connection (as nginx proxies by default); otherwise each user keeps one keep-alive connection.
  The runner passes ``close`` unless told otherwise.
- ``BENCH_FINAL_CSV`` (optional): a prefix for ``_stats.csv`` and ``_failures.csv`` written when
  locust quits. ``--csv`` files are rewritten once a second and locust 2.47 does not write them
  again at the end, so they can miss the last second of the run; these final ones do not.

The users have no think time: each keeps exactly one request in flight, so ``-u 8`` means eight
concurrent clients and the run measures the server's capacity at that concurrency.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import struct
from pathlib import Path
from typing import Any

from locust import HttpUser, constant, events, task
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

UPLOAD_NAME = "POST /api/photos/ [upload]"
FEED_NAME = "GET /api/photos/ [feed]"
TAG_FEED_NAME = "GET /api/photos/?tag= [tag feed]"

_slots = itertools.count()
_raw: list[tuple[str, int, float, float, bool, int]] = []
_recycled = 0
_sent = 0  # one queue for all users: they run as greenlets in this one process
_images: list[Path] = []


def _tokens() -> list[dict[str, str]]:
    path = os.environ.get("BENCH_TOKENS_FILE")
    if not path:
        raise RuntimeError("BENCH_TOKENS_FILE is not set (run bench/bench_api_load.py)")
    tokens = json.loads(Path(path).read_text())
    if not tokens:
        raise RuntimeError(f"{path} holds no tokens")
    return tokens


def _tags() -> list[str]:
    return [t for t in os.environ.get("BENCH_TAGS", "beach,city,dog").split(",") if t]


def _upload_images() -> list[Path]:
    if not _images:
        folder = Path(os.environ["BENCH_IMAGES_DIR"])
        _images.extend(sorted(folder.glob("*.jpg")))
        if not _images:
            raise RuntimeError(f"no images in {folder}")
    return _images


def _with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a JPEG comment segment after SOI: new bytes, so a new content hash."""
    payload = text.encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


class _TokenUser(HttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        tokens = _tokens()
        self.slot = next(_slots) % len(tokens)
        self.username = tokens[self.slot]["username"]
        self.client.headers["Authorization"] = f"Token {tokens[self.slot]['token']}"
        if os.environ.get("BENCH_CONNECTION") == "close":
            self.client.headers["Connection"] = "close"
        self.tags = _tags()

    def context(self) -> dict[str, Any]:
        # Passed to request events: lets the runner break latency down per client (per connection).
        return {"client": getattr(self, "slot", -1)}


class UploadUser(_TokenUser):
    """Uploads distinct ~175 KB 1024x768 JPEGs as fast as the server answers."""

    def _next_image(self) -> tuple[str, bytes]:
        global _sent, _recycled
        images = _upload_images()
        path = images[_sent % len(images)]
        data = path.read_bytes()
        lap = _sent // len(images)
        if lap:
            # The prepared images ran out: same pixels, new bytes. Counted and reported by the runner.
            _recycled += 1
            data = _with_comment(data, f"bench lap {lap}")
        _sent += 1
        return path.name, data

    @task
    def upload(self) -> None:
        name, data = self._next_image()
        with self.client.post(
            "/api/photos/",
            files={"image": (name, data, "image/jpeg")},
            data={"caption": f"bench upload {self.username} {name}", "tags": random.choice(self.tags)},
            name=UPLOAD_NAME,
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}: {response.text[:300]}")


class FeedUser(_TokenUser):
    """Reads the first page of the feed, half the time filtered by one tag."""

    @task
    def feed(self) -> None:
        self._get("/api/photos/", FEED_NAME)

    @task
    def tag_feed(self) -> None:
        self._get(f"/api/photos/?tag={random.choice(self.tags)}", TAG_FEED_NAME)

    def _get(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:300]}")
            elif b'"results"' not in response.content:
                response.failure("200 without a results list")


@events.request.add_listener
def _record(
    name: str,
    response_time: float,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    client = int((context or {}).get("client", -1))
    _raw.append(
        (name, int(status), float(response_time), float(start_time or 0.0), exception is None, client)
    )


@events.quitting.add_listener
def _write_results(environment: Environment, **_: Any) -> None:
    path = os.environ.get("BENCH_RAW_OUT")
    if path:
        fields = ["name", "status", "response_time_ms", "start_time", "ok", "client"]
        rows = [dict(zip(fields, row, strict=True)) for row in _raw]
        Path(path).write_text(json.dumps({"requests": rows, "recycled_uploads": _recycled}))
    prefix = os.environ.get("BENCH_FINAL_CSV")
    if prefix:
        writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
        with open(f"{prefix}_stats.csv", "w", newline="") as handle:
            writer.requests_csv(csv.writer(handle))
        with open(f"{prefix}_failures.csv", "w", newline="") as handle:
            writer.failures_csv(csv.writer(handle))
