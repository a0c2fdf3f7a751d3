"""API load benchmark: uploads per second and feed latency under N concurrent clients, against
gunicorn + PostgreSQL on this machine, driven by locust (``bench/locustfile.py``).

    .venv/bin/python bench/bench_api_load.py --duration 60 --clients 8 --out bench/results/api_load.json

What it does, all on this machine:

1. A fresh PostgreSQL database ``tagloop_bench``, a temporary SHARED_FS and VAR_DIR, migrated
   (``bench/_stack.py``).
2. Makes distinct ~170 KB 1024x768 noise JPEGs with Pillow (seed photos and one folder per client),
   creates one user + token per client and seeds photos through
   ``api.photos.services.upload_photo`` (so the feed and the tag filter have content).
3. Starts gunicorn (3 workers x 2 threads by default) and warms it up with a few feed requests.
4. Runs locust headless twice: an upload-only phase (``UploadUser``) then a feed-only phase
   (``FeedUser``), each for ``--duration`` seconds with ``--clients`` users and no think time.
5. Samples the CPU time of gunicorn, locust, PostgreSQL and Redis (psutil) during each phase.
6. Writes locust's figures, exact percentiles from every request, status codes, the CPU split and
   machine facts to ``--out``; stops gunicorn, drops the database and flushes Redis db 14, also
   when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import redis
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu import reading
from _locust import run_phase, tail
from _stack import PG_ADMIN, REPO, Stack, machine_facts

DB_NAME = "tagloop_bench"
REDIS_DB = 14
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
TAGS = ["beach", "city", "dog", "cat", "forest", "mountain", "food", "night", "portrait", "snow"]
IMAGE_SIZE = (1024, 768)
# Noise this coarse, upscaled, gives ~170 KB JPEGs at quality 80: a phone photo's decode and
# thumbnail work at a tenth of the bytes, and every image is different.
NOISE_SIZE = (128, 96)
JPEG_QUALITY = 80
SEED_BASE = 1_000_000  # seed photos use random seeds SEED_BASE.., upload images 0..

# ---------------------------------------------------------------- images


def noise_jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", NOISE_SIZE, rng.randbytes(NOISE_SIZE[0] * NOISE_SIZE[1] * 3))
    image = noise.resize(IMAGE_SIZE, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _write_image(job: tuple[int, str]) -> int:
    seed, path = job
    data = noise_jpeg(seed)
    Path(path).write_bytes(data)
    return len(data)


def make_images(root: Path, *, seed_count: int, upload_count: int) -> dict[str, Any]:
    (root / "seed").mkdir(parents=True)
    (root / "uploads").mkdir(parents=True)
    jobs = [(SEED_BASE + i, str(root / "seed" / f"seed{i:05d}.jpg")) for i in range(seed_count)]
    jobs += [(i, str(root / "uploads" / f"up{i:05d}.jpg")) for i in range(upload_count)]
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_image, jobs, chunksize=16)
    return {
        "count": len(sizes),
        "seed_photos": seed_count,
        "for_uploads": upload_count,
        "width": IMAGE_SIZE[0],
        "height": IMAGE_SIZE[1],
        "bytes_min": min(sizes),
        "bytes_mean": round(sum(sizes) / len(sizes)),
        "bytes_max": max(sizes),
        "seconds_to_make": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------- the stack


def seed(args: argparse.Namespace, seed_dir: Path, tokens_file: Path) -> None:
    """One account and token per client, and the feed's photos through ``upload_photo``."""
    from django.contrib.auth.models import User
    from django.db import connections

    from api.accounts.services import token_for
    from api.photos.services import upload_photo

    rng = random.Random(7)
    users = [User.objects.create_user(username=f"bench{c}", password=None) for c in range(args.clients)]
    tokens = [{"username": user.username, "token": token_for(user)} for user in users]
    visibilities = ["public"] * 18 + ["private", "unlisted"]
    images = sorted(seed_dir.glob("*.jpg"))
    for i, path in enumerate(images):
        upload_photo(
            owner=users[i % len(users)],
            data=path.read_bytes(),
            caption=f"seed photo {i}",
            visibility=rng.choice(visibilities),
            tag_names=rng.sample(TAGS, rng.randint(1, 3)),
        )
    tokens_file.write_text(json.dumps(tokens))
    connections.close_all()  # no connection of this runner's stays open while the phases run
    print(f"seeded {len(users)} users and {len(images)} photos", flush=True)


def pg_query(sql: str, dsn: str | None = None) -> Any:
    conn = psycopg2.connect(dsn or f"host=127.0.0.1 port=5432 user=postgres dbname={DB_NAME}")
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def warm_up(base_url: str, token: str, log_path: Path) -> None:
    """Each worker imports the URLconf, DRF and the views on its first request: done before timing."""
    headers = {"Authorization": f"Token {token}"}

    def one(i: int) -> int:
        url = f"{base_url}/api/photos/" + (f"?tag={TAGS[i % len(TAGS)]}" if i % 2 else "")
        return requests.get(url, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = Counter(pool.map(one, range(48)))
    if set(codes) != {200}:
        raise RuntimeError(f"warm-up got {dict(codes)}:\n{tail(log_path)}")


# ---------------------------------------------------------------- facts and reading


def machine_info() -> dict[str, Any]:
    """:func:`machine_facts`, and what an API figure also depends on: the kernel, the packages,
    PostgreSQL's settings, Redis and the temporary folder's file system."""
    versions = {}
    for package in (
        "django",
        "djangorestframework",
        "gunicorn",
        "locust",
        "psycopg2-binary",
        "psycopg2",
        "pillow",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    pg = {}
    with contextlib.suppress(psycopg2.Error):
        for setting in ("server_version", "shared_buffers", "synchronous_commit", "fsync", "max_connections"):
            pg[setting] = pg_query(f"SHOW {setting}", PG_ADMIN)
    redis_version = None
    with contextlib.suppress(redis.RedisError):
        redis_version = redis.Redis.from_url(REDIS_URL).info("server").get("redis_version")
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    return {
        **machine_facts(),
        "kernel": platform.release(),
        "packages": versions,
        "postgres": pg,
        "redis": redis_version,
        "git_worktree_dirty": bool(dirty.strip()),
        "tmp_filesystem": next(
            (
                p.fstype
                for p in sorted(psutil.disk_partitions(), key=lambda p: -len(p.mountpoint))
                if tempfile.gettempdir().startswith(p.mountpoint)
            ),
            None,
        ),
    }


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per phase (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent locust users (default 8)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument("--seed-photos", type=int, default=200, help="photos in the feed before the run")
    parser.add_argument(
        "--upload-images",
        type=int,
        default=0,
        help="distinct images for the upload phase (default: enough for 40 uploads/s; the measured "
        "rate here is ~25/s; if they run out, uploads reuse pixels with new bytes and are counted)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "api_load.json")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300,
        help="before each phase, wait up to this many seconds for other load on the machine to stop",
    )
    parser.add_argument(
        "--connection",
        choices=["close", "keep-alive"],
        default="close",
        help="close (default): a new connection per request, which is how gunicorn sees traffic behind "
        "nginx (no upstream keepalive); keep-alive: each client keeps one connection, which stays on the "
        "worker that accepted it, so results depend on how 8 connections landed on 3 workers",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary folder (logs, CSVs)")
    args = parser.parse_args(argv)
    if args.upload_images <= 0:
        args.upload_images = 40 * args.duration + 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on SIGTERM too
    out: Path = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.parent / f"{out.stem}.logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    started = dt.datetime.now(dt.UTC)
    redis.Redis.from_url(REDIS_URL).flushdb()
    stack = Stack(
        DB_NAME,
        REDIS_DB,
        # The API runs without the model processes' allocator settings, as compose starts it.
        GLIBC_TUNABLES="",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    work = stack.work
    tokens_file = work / "tokens.json"
    stack.env.update(
        {
            "BENCH_TOKENS_FILE": str(tokens_file),
            "BENCH_IMAGES_DIR": str(work / "images" / "uploads"),
            "BENCH_TAGS": ",".join(TAGS),
            "BENCH_CONNECTION": args.connection,
        }
    )
    gunicorn_log = work / "gunicorn.log"
    try:
        print(f"making images in {work} ...", flush=True)
        images = make_images(
            work / "images",
            seed_count=args.seed_photos,
            upload_count=args.upload_images,
        )
        print(f"  {images['count']} JPEGs, mean {images['bytes_mean'] / 1024:.0f} KB", flush=True)

        seeding = time.perf_counter()
        stack.use_here()
        seed(args, work / "images" / "seed", tokens_file)
        print(f"  in {time.perf_counter() - seeding:.1f} s", flush=True)
        token = json.loads(tokens_file.read_text())[0]["token"]

        base_url = stack.web(workers=args.workers, threads=args.threads)
        gunicorn = stack.processes[-1]  # web() starts it last
        warm_up(base_url, token, gunicorn_log)
        print(f"gunicorn up on {base_url} ({args.workers} workers x {args.threads} threads)", flush=True)

        phases: dict[str, Any] = {}
        photos = {"before_upload": pg_query("SELECT count(*) FROM photos_photo")}
        common = {
            "args": args,
            "env": stack.env,
            "base_url": base_url,
            "gunicorn": gunicorn,
            "work": work,
            "logs": logs,
            "db_name": DB_NAME,
        }
        phases["upload"] = run_phase("upload", "UploadUser", **common)
        photos["after_upload"] = pg_query("SELECT count(*) FROM photos_photo")
        phases["feed"] = run_phase("feed", "FeedUser", **common)
        photos["tags"] = pg_query("SELECT count(*) FROM tags_phototag")
        if gunicorn.poll() is not None:
            raise RuntimeError(f"gunicorn died during the run:\n{tail(gunicorn_log)}")

        upload = phases["upload"]["exact"]
        created = upload["all"]["status_codes"].get("201", 0)
        feed = phases["feed"]["exact"]
        server_errors = sum(
            n
            for p in phases.values()
            for code, n in p["exact"]["all"]["status_codes"].items()
            if int(code) >= 500
        )
        summary = {
            "uploads_per_s": upload["all"]["ok_per_s"],
            "uploads_ok": created,
            "upload_failures": upload["all"]["failures"],
            # Uploads sent after the prepared images ran out (same pixels, new bytes); should be 0.
            "uploads_recycled": phases["upload"]["recycled_uploads"],
            "upload_p50_ms": upload["all"]["p50_ms"],
            "upload_p95_ms": upload["all"]["p95_ms"],
            "feed_requests_per_s": round(feed["all"]["requests"] / feed["all"]["span_s"], 2),
            "feed_p50_ms": feed["all"]["p50_ms"],
            "feed_p95_ms": feed["all"]["p95_ms"],
            "feed_failures": feed["all"]["failures"],
            "server_errors_5xx": server_errors,
            "rows_match_201s": photos["after_upload"] - photos["before_upload"] == created,
            # CPU cores used by programs outside the benchmark; above ~0.1 the figures are skewed.
            "other_cores": {n: (p["cpu"].get("cores_used") or {}).get("other") for n, p in phases.items()},
            "iowait_cores": {n: p["cpu"].get("cores_iowait") for n, p in phases.items()},
        }
        result = {
            "benchmark": "api_load",
            "started_at": started.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "config": {
                "duration_s": args.duration,
                "clients": args.clients,
                "think_time_s": 0,
                "connection": args.connection,
                "gunicorn": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
                "database": "PostgreSQL (fresh database per run), CONN_MAX_AGE=60",
                "cache": REDIS_URL,
                "page_size": 24,
                "feed_mix": "50% GET /api/photos/, 50% GET /api/photos/?tag=<one of 10 tags>",
                "upload": "multipart image + caption + one tag; every file distinct",
                "percentiles": "exact: linear interpolation over every request; "
                "locust: its final CSV (rounds times to 2 significant digits above 100 ms)",
            },
            "images": images,
            "photos": photos,
            "machine": machine_info(),
            "summary": summary,
            "reading": reading(phases["upload"], "upload") + reading(phases["feed"], "feed"),
            "phases": phases,
        }
        out.write_text(json.dumps(result, indent=2) + "\n")
        print_summary(result, out)
        return 0
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(gunicorn_log, logs / "gunicorn.log")
        stack.close(keep_work=args.keep_tmp)
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(REDIS_URL).flushdb()
        if args.keep_tmp:
            print(f"kept {work}")


def print_summary(result: dict[str, Any], out: Path) -> None:
    s = result["summary"]
    m = result["machine"]
    print()
    print(f"machine: {m['cores']} x {m['cpu']}, {m['memory_gib']} GiB")
    print(
        f"uploads: {s['uploads_per_s']}/s ({s['uploads_ok']} created, {s['upload_failures']} failed), "
        f"p50 {s['upload_p50_ms']} ms, p95 {s['upload_p95_ms']} ms"
    )
    print(
        f"feed:    {s['feed_requests_per_s']} req/s, p50 {s['feed_p50_ms']} ms, p95 {s['feed_p95_ms']} ms, "
        f"{s['feed_failures']} failed"
    )
    print(f"5xx: {s['server_errors_5xx']}; DB rows match 201s: {s['rows_match_201s']}")
    print(f"CPU used by other programs (cores): {s['other_cores']}; I/O wait (cores): {s['iowait_cores']}")
    for line in result["reading"]:
        print(f"  - {line}")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
