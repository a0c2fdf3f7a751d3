"""The work ``bench_scale.py`` times on a seeded library: the background recounts, fresh uploads
until their tags show, and a re-tag of the whole library by re-scoring stored embeddings, each
through a real Celery tagging worker (pool sized as production sizes it)."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import psutil
import requests
from _stack import Stack, percentile, rss_mb, tree
from bench_tagging import wait_for_model
from PIL import Image


def recounts() -> dict[str, float]:
    """What beat does every TAG_COUNTS_SECONDS, timed once each (and left done for the pages)."""
    from api.tags import counts
    from api.training.selectors import refresh_vocabulary

    started = time.perf_counter()
    tags = counts.refresh()
    counted = time.perf_counter() - started
    started = time.perf_counter()
    names, _ = refresh_vocabulary()
    return {
        "tag_counts_seconds": round(counted, 2),
        "tags_counted": tags,
        "vocabulary_seconds": round(time.perf_counter() - started, 2),
        "vocabulary_tags": len(names),
    }


def start_tagging_worker(stack: Stack) -> psutil.Process:
    worker = stack.worker("tagging,default", "worker", processes=None)
    wait_for_model(worker, stack)
    return psutil.Process(worker.pid)


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(10_000 + seed)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((640, 480)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def upload_to_tags(base: str, count: int, pause_s: float = 0.5) -> dict[str, Any]:
    """``count`` fresh uploads by owner01, one at a time with the worker idle in between: seconds
    from sending the upload until the API says the photo is tagged."""
    from django.contrib.auth.models import User

    from api.accounts.services import token_for

    headers = {"Authorization": f"Token {token_for(User.objects.get(username='owner01'))}"}
    seconds = []
    for n in range(count):
        time.sleep(pause_s)
        started = time.perf_counter()
        response = requests.post(f"{base}/api/photos/", headers=headers, timeout=60,
                                 files={"image": (f"fresh{n}.jpg", _jpeg(n), "image/jpeg")})  # fmt: skip
        response.raise_for_status()
        photo = f"{base}/api/photos/{response.json()['id']}/"
        while requests.get(photo, headers=headers, timeout=30).json()["status"] == "pending":
            time.sleep(0.01)
        seconds.append(time.perf_counter() - started)
    return {
        "photos": count,
        "p50_s": round(percentile(seconds, 0.5), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        "max_s": round(max(seconds), 3),
    }


def rescore_library(worker: psutil.Process, timeout: float) -> dict[str, Any]:
    """Every seeded photo made due (as if tagged by an older version) and re-tagged by the
    worker from its stored embedding: wall time from the wake-up until none is due, the
    progress row's curve, and the worker's peak RSS."""
    from django.db import connection

    from api.photos.models import Photo
    from api.tagging import retag
    from api.tagging.services import active_version, request_tagging

    version = active_version()
    assert version is not None
    due = Photo.objects.filter(status="tagged").update(model_version=version - 1)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE photos_photo")
    processes = tree(worker.pid)
    peak = rss_mb(processes)
    curve: list[tuple[float, int]] = []
    started = time.perf_counter()
    request_tagging()
    while retag.retag_due(version).exists():
        elapsed = time.perf_counter() - started
        if elapsed > timeout:
            break
        progress = retag.progress()
        curve.append((round(elapsed, 1), progress.done if progress else 0))
        peak = max(peak, rss_mb(processes))
        time.sleep(1.0)
    seconds = time.perf_counter() - started
    left = retag.retag_due(version).count()
    progress = retag.progress()
    return {
        "photos": due,
        "seconds": round(seconds, 1),
        "completed": left == 0,
        "left": left,
        "photos_per_s": round((due - left) / seconds, 1),
        "progress_row": {"total": progress.total, "done": progress.done} if progress else None,
        "peak_worker_rss_mb": peak,
        "curve_done_by_second": curve[:: max(1, len(curve) // 200)],
    }
