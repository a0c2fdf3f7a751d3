"""Burst benchmark: 1,000 uploads from 20 concurrent clients through gunicorn, with one real
tagging worker and the trainer (with beat) present, on PostgreSQL and Redis.

    .venv/bin/python bench/bench_burst.py --out bench/results/burst.json --plot docs/bench/burst.png

1. Makes the photos in memory before the clock starts: different crops of the COCO photos in
   ``--dataset`` (coco256), scaled to ``--side`` px and re-encoded, so every upload is a
   distinct photo (synthetic ones when the folder is missing).
2. A fresh database, Redis db, SHARED_FS and VAR_DIR (``bench/_stack.py``); gunicorn as in
   compose (3 workers x 4 threads); a tagging worker (``tagging,default``) and a trainer
   (``training``, with beat). The burst starts once the worker has loaded its model.
3. ``--clients`` threads each take the next photo and upload it (``POST /api/photos/``, a new
   connection each time, as behind nginx) until ``--uploads`` are sent, with no pause.
4. Every ``--sample`` seconds: the photos uploaded, pending, tagged and failed, and the resident
   memory of each service: gunicorn (master + workers), the tagging worker (master + pool), the
   trainer (master + pool + beat), the PostgreSQL backends of the bench database, and Redis
   (the machine's shared server, all its databases).
5. Waits until every uploaded photo is tagged, then writes the JSON, and a plot of the backlog
   over time.

Pass criteria: zero upload errors and every photo tagged. ``loadavg_before`` records what else
was running: the machine is shared, and another person's tests slow the drain.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import queue
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import redis
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import REPO, Stack, machine_facts, percentile, rss_mb, tree
from bench_tagging import wait_for_model

DB_NAME = "tagloop_bench_burst"
REDIS_DB = 10
SERVICES = ("gunicorn", "tagging_worker", "trainer", "postgres_backends", "redis")


# ---------------------------------------------------------------- photos


def burst_photos(dataset: Path, count: int, side: int, seed: int) -> tuple[list[bytes], str]:
    """``count`` distinct JPEGs: a random crop (70-100% of each side) of a dataset photo, scaled
    so its longer side is ``side`` px; synthetic gradients with noise without a dataset."""
    rng = random.Random(seed)
    sources = sorted(dataset.rglob("*.jpg")) if dataset.is_dir() else []
    photos: list[bytes] = []
    for i in range(count):
        if sources:
            with Image.open(sources[i % len(sources)]) as original:
                image = original.convert("RGB")
            width, height = image.size
            crop_w, crop_h = int(width * rng.uniform(0.7, 1)), int(height * rng.uniform(0.7, 1))
            left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
            image = image.crop((left, top, left + crop_w, top + crop_h))
        else:
            base = Image.linear_gradient("L").resize((side, side * 3 // 4)).convert("RGB")
            noise = Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3)).resize(base.size)
            image = Image.blend(base, noise, 0.5)
        image.thumbnail((side, side))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        photos.append(out.getvalue())
    if len({hashlib.sha256(p).digest() for p in photos}) != count:
        raise SystemExit("two burst photos came out identical; change --seed")
    return photos, (str(dataset) if sources else "synthetic")


# ---------------------------------------------------------------- sampling


def service_processes(pids: dict[str, int]) -> dict[str, list[psutil.Process]]:
    groups = {name: tree(pid) for name, pid in pids.items()}
    groups["postgres_backends"], groups["redis"] = [], []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and f" {DB_NAME} " in cmdline:
            groups["postgres_backends"].append(process)
        elif process.info["name"] == "redis-server" and ":6379" in cmdline:
            groups["redis"].append(process)
    return groups


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


class Sampler(threading.Thread):
    """The backlog and each service's memory, every ``interval`` seconds, from ``t0``."""

    def __init__(self, pids: dict[str, int], t0: float, uploaded: list[dict[str, Any]], interval: float):
        super().__init__(daemon=True)
        self.pids, self.t0, self.uploaded, self.interval = pids, t0, uploaded, interval
        self.timeline: list[dict[str, Any]] = []
        self.peak_rss_mb = dict.fromkeys(SERVICES, 0.0)
        self.processes_seen: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.cpu_first: dict[str, dict[int, float]] = {name: {} for name in SERVICES}
        self.cpu_last: dict[str, dict[int, float]] = {name: {} for name in SERVICES}
        self.done = threading.Event()

    def sample(self) -> None:
        from django.db.models import Count

        from api.photos.models import Photo

        counts = dict(Photo.objects.values_list("status").annotate(n=Count("id")))
        groups = service_processes(self.pids)
        memory = {name: rss_mb(groups[name]) for name in SERVICES}
        for name in SERVICES:
            self.peak_rss_mb[name] = max(self.peak_rss_mb[name], memory[name])
            self.processes_seen[name] = max(self.processes_seen[name], len(groups[name]))
            now = cpu_seconds(groups[name])
            for pid, seconds in now.items():
                self.cpu_first[name].setdefault(pid, seconds)
            self.cpu_last[name].update(now)
        self.timeline.append(
            {
                "t": round(time.monotonic() - self.t0, 2),
                "uploaded": sum(1 for r in list(self.uploaded) if r["status"] == 201),
                "pending": counts.get("pending", 0),
                "tagged": counts.get("tagged", 0),
                "failed": counts.get("failed", 0),
                "rss_mb": memory,
            }
        )

    def cpu_used(self) -> dict[str, float]:
        return {
            name: round(
                sum(self.cpu_last[name][pid] - first for pid, first in self.cpu_first[name].items()), 1
            )
            for name in SERVICES
        }

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.done.is_set():
                self.sample()
                self.done.wait(self.interval)
            self.sample()
        finally:
            connection.close()


# ---------------------------------------------------------------- the burst


def upload_all(
    base: str, tokens: list[str], photos: list[bytes], t0: float, records: list[dict[str, Any]]
) -> None:
    jobs: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(photos)):
        jobs.put(i)

    def client(token: str) -> None:
        headers = {"Authorization": f"Token {token}", "Connection": "close"}
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            record: dict[str, Any] = {"i": i, "started": round(started - t0, 3)}
            try:
                answer = requests.post(
                    f"{base}/api/photos/",
                    headers=headers,
                    files={"image": (f"burst{i:04d}.jpg", photos[i], "image/jpeg")},
                    data={"caption": f"burst photo {i}"},
                    timeout=300,
                )
                record["status"] = answer.status_code
                if answer.status_code != 201:
                    record["detail"] = answer.text[:300]
            except requests.RequestException as error:
                record["status"], record["detail"] = 0, str(error)[:300]
            record["seconds"] = round(time.monotonic() - started, 3)
            records.append(record)

    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(client, tokens))


def wait_for_drain(expected: int, timeout: float) -> None:
    from api.photos.models import Photo

    deadline = time.monotonic() + timeout
    while Photo.objects.filter(status="pending").exists() or Photo.objects.count() < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"the backlog did not drain within {timeout:.0f} s")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "datasets" / "coco256")
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--side", type=int, default=512, help="longest side of each photo, px")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="TAGGER_BATCH_SIZE")
    parser.add_argument("--sample", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=1800, help="longest wait for the backlog, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "burst.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "bench" / "burst.png")
    args = parser.parse_args()

    print("making photos…", flush=True)
    photos, source = burst_photos(args.dataset, args.uploads, args.side, args.seed)
    sizes = sorted(len(p) for p in photos)
    stack = Stack(DB_NAME, REDIS_DB, TAGGER_BATCH_SIZE=str(args.batch))
    result: dict[str, Any] = {
        "benchmark": "burst",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_facts(),
        "config": {
            "uploads": args.uploads,
            "clients": args.clients,
            "gunicorn": f"{args.web_workers} workers x {args.web_threads} threads (gthread)",
            "tagging_worker": f"1 process, queues tagging,default, batch {args.batch}, CPU",
            "trainer": "1 process, queue training, with beat (idle during the burst)",
            "database": "PostgreSQL on 127.0.0.1:5432, a fresh database",
            "broker_and_cache": f"Redis on 127.0.0.1:6379, db {REDIS_DB}",
            "photos": {
                "source": source,
                "longest_side_px": args.side,
                "bytes_min": sizes[0],
                "bytes_median": sizes[len(sizes) // 2],
                "bytes_max": sizes[-1],
            },
        },
    }
    try:
        stack.use_here()
        from django.contrib.auth.models import User

        from api.accounts.services import token_for
        from api.celery import app

        tokens = [token_for(User.objects.create_user(username=f"burst{c:02d}")) for c in range(args.clients)]
        worker = stack.worker("tagging,default", "worker", processes=None)
        trainer = stack.worker("training", "trainer", beat=True)
        base = stack.web(workers=args.web_workers, threads=args.web_threads)
        wait_for_model(worker, stack)
        app.control.purge()
        gunicorn = stack.processes[-1]  # web() starts it last
        pids = {"gunicorn": gunicorn.pid, "tagging_worker": worker.pid, "trainer": trainer.pid}
        idle = {name: rss_mb(group) for name, group in service_processes(pids).items()}

        result["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
        print(
            f"burst of {args.uploads} uploads from {args.clients} clients (load {result['loadavg_before']})…"
        )
        records: list[dict[str, Any]] = []
        t0 = time.monotonic()
        sampler = Sampler(pids, t0, records, args.sample)
        sampler.start()
        upload_all(base, tokens, photos, t0, records)
        last_answer = max(r["started"] + r["seconds"] for r in records)
        created = sum(1 for r in records if r["status"] == 201)
        wait_for_drain(created, args.timeout)
        drained = time.monotonic() - t0
        sampler.done.set()
        sampler.join()
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]

        from api.photos.models import Photo

        statuses = Counter(Photo.objects.values_list("status", flat=True))
        wake_ups_left = redis.Redis.from_url(stack.env["REDIS_URL"]).llen("tagging")
        seconds = [r["seconds"] for r in records if r["status"] == 201]
        errors = [r for r in records if r["status"] != 201]
        result["summary"] = {
            "uploads_sent": len(records),
            "upload_errors": len(errors),
            "photos_stored": Photo.objects.count(),
            "photos_tagged": statuses.get("tagged", 0),
            "photos_failed": statuses.get("failed", 0),
            "every_photo_tagged": statuses.get("tagged", 0) == created == args.uploads,
            "upload_phase_s": round(last_answer, 2),
            "uploads_per_s": round(created / last_answer, 2),
            "upload_p50_s": round(percentile(seconds, 0.5), 3),
            "upload_p95_s": round(percentile(seconds, 0.95), 3),
            "upload_max_s": round(max(seconds), 3),
            "peak_backlog": max(s["pending"] for s in sampler.timeline),
            "first_upload_to_all_tagged_s": round(drained, 2),
            "drain_after_last_upload_s": round(drained - last_answer, 2),
            "tagging_photos_per_s": round(created / drained, 2),
            "peak_rss_mb": sampler.peak_rss_mb,
            # Wake-up messages still queued when the last photo was tagged: each costs the worker
            # a claim that finds nothing (the database is the queue; a message only wakes).
            "wake_up_messages_left_at_drain": wake_ups_left,
        }
        result["idle_rss_mb_before_burst"] = idle
        result["processes_per_service_max"] = sampler.processes_seen
        result["cpu_seconds_during_burst"] = sampler.cpu_used()
        result["notes"] = [
            "RSS sums count pages shared between a master and its forked children (and PostgreSQL's "
            "shared buffers in each backend) more than once, so they overstate the memory in use.",
            "Redis is the machine's shared server: its RSS covers every database on it.",
        ]
        result["errors"] = errors[:20]
        result["timeline"] = sampler.timeline
    finally:
        stack.close()
        # The wake-ups still queued would otherwise wake the next worker on this Redis db.
        redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.plot)
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {args.out} and {args.plot}")
    return 0 if result["summary"]["upload_errors"] == 0 and result["summary"]["every_photo_tagged"] else 1


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline, summary = result["timeline"], result["summary"]
    t = [s["t"] for s in timeline]
    figure, axis = plt.subplots(figsize=(7, 4), dpi=120)
    axis.plot(t, [s["uploaded"] for s in timeline], label="uploaded (201)")
    axis.plot(t, [s["tagged"] for s in timeline], label="tagged")
    axis.fill_between(
        t, [s["pending"] for s in timeline], alpha=0.3, color="tab:red", label="backlog (pending)"
    )
    axis.axvline(summary["upload_phase_s"], color="grey", linestyle="--", linewidth=1)
    axis.annotate(
        "last upload", (summary["upload_phase_s"], 0), textcoords="offset points", xytext=(4, 4), fontsize=8
    )
    config = result["config"]
    axis.set_title(
        f"{config['uploads']} uploads from {config['clients']} clients, 1 CPU tagging worker: "
        f"drained {summary['drain_after_last_upload_s']:.0f} s after the last upload",
        fontsize=9,
    )
    axis.set_xlabel("seconds since the first upload")
    axis.set_ylabel("photos")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
