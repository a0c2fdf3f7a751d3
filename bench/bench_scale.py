"""Scale benchmark (issue 18): the site's reads and the embeddings' index at N photos.

    .venv/bin/python bench/bench_scale.py --photos 100000 --out bench/results/scale-100k.json

What it does, all on this machine:

1. A fresh PostgreSQL database ``tagloop_bench_scale`` (``bench/_stack.py``), migrated, static
   files collected, the day-zero model published as version 0.
2. Seeds N photos straight into PostgreSQL with COPY (``bench/_scale_data.py``: owners,
   visibilities, tags, votes, synthetic embeddings with 1% re-saves); the HNSW index is dropped
   for the COPY and built afterwards, timed, and its size read from PostgreSQL.
3. Starts gunicorn (1 worker x 4 threads) and times each page and API read: ``--warmup``
   untimed requests, then ``--requests`` timed ones, one at a time on a keep-alive connection,
   from sending to the last byte. Similar photos ask for a different random public photo each
   time.
4. Recall@12 of similar photos against exact search (numpy over every public photo) on
   ``--sample`` photos: the share of the exact 12 nearest that the index query returns.
5. Near-duplicates as a tagging batch writes them: ``flag_near_duplicates`` on batches of 16 of
   the re-saves (one indexed query per photo), timed, and the share linked to their original.

6. A real tagging worker (its pool sized as production sizes it): ``--uploads`` fresh uploads,
   one at a time, from sending until the API says tagged; then every photo made due for
   re-tagging and re-scored from its stored embedding, timed until none is due
   (``bench/_scale_work.py``).
7. With ``--train``: ``manage.py train`` on every label the library holds (about 40% of the
   photos are labelled), its wall time and peak RSS.

Before the pages, the background recounts beat runs every TAG_COUNTS_SECONDS (tag counts, the
next vocabulary) are run once and timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scale_data import SPACE, TAGS, Library, cluster_tags, make_library, seed
from _scale_work import recounts, rescore_library, start_tagging_worker, upload_to_tags
from _stack import REPO, Stack, machine_facts, percentile, rss_mb, tree
from bench_pages import percentiles, profile, session_cookie

DB_NAME = "tagloop_bench_scale"
REDIS_DB = 11


def pages(lib: Library) -> dict[str, tuple[str, str | None]]:
    """name: (path, who is signed in). ``{similar}`` is replaced by a random public photo."""
    public = np.flatnonzero(lib.visibility == "public")
    photo = lib.photo_id(int(public[len(public) // 2]))
    tag = f"kind{cluster_tags(int(lib.cluster[public[0]]))[0]:03d}"
    return {
        "feed": ("/", None),
        "feed_member": ("/", "owner01"),
        "photo_page": (f"/p/{photo}/", "owner01"),
        "tag_page": (f"/t/{tag}/", None),
        "search": (f"/search/?q={tag}", "owner01"),
        "search_caption_word": ("/search/?q=sunset", "owner01"),
        "autocomplete": ("/api/tags/?q=ind01", "owner01"),
        "tags_api": ("/api/tags/", None),
        "photos_api": ("/api/photos/", None),
        "help": ("/help/", "owner01"),
        "dashboard": ("/staff/", "boss"),
        "similar": ("/api/photos/{similar}/similar/", None),
    }


def reuse(n: int, rng_seed: int) -> Library:
    """The library a ``--keep-db`` run seeded: the same rows, numbered from its first photo."""
    from api.photos.models import Photo

    lib = make_library(n, rng_seed)
    lib.first_id = Photo.objects.order_by("pk").values_list("pk", flat=True)[0]
    return lib


def time_pages(base: str, lib: Library, args: argparse.Namespace) -> dict[str, Any]:
    public = np.flatnonzero(lib.visibility == "public").tolist()
    picks = random.Random(args.seed)
    results: dict[str, Any] = {}
    for name, (path, user) in pages(lib).items():
        session = requests.Session()
        if user:
            session.cookies.set("sessionid", session_cookie(user))
        samples = []
        for attempt in range(args.warmup + args.requests):
            url = base + path.replace("{similar}", str(lib.photo_id(picks.choice(public))))
            started = time.perf_counter()
            answer = session.get(url, timeout=120)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"{name}: {url} answered {answer.status_code}: {answer.text[:300]}")
            if attempt >= args.warmup:
                samples.append(elapsed)
        results[name] = {"path": path, **percentiles(samples)}
        print(
            f"  {name:20} p50 {results[name]['p50_ms']:8.1f} ms  p95 {results[name]['p95_ms']:8.1f} ms",
            flush=True,
        )
    return results


def unit(vectors: np.ndarray) -> np.ndarray:
    x = vectors.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def recall_at_12(lib: Library, rows: list[int]) -> float:
    """The share of each sampled photo's exact 12 nearest public photos (numpy, one pass over the
    library for all the samples) that the index query returns."""
    from django.contrib.auth.models import AnonymousUser

    from api.tagging.vector_search import visible_neighbours

    public = np.flatnonzero(lib.visibility == "public")
    queries = unit(lib.vectors[rows]).T
    best_rows = np.empty((len(rows), 0), dtype=np.int64)
    best_scores = np.empty((len(rows), 0), dtype=np.float32)
    for s in range(0, len(public), 50000):
        chunk = public[s : s + 50000]
        scores = (unit(lib.vectors[chunk]) @ queries).T
        scores[np.asarray(rows)[:, None] == chunk[None, :]] = -np.inf  # not the photo itself
        best_rows = np.concatenate([best_rows, np.broadcast_to(chunk, scores.shape)], axis=1)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :12]
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    hits = 0
    for row, nearest in zip(rows, best_rows, strict=True):
        truth = {lib.photo_id(int(r)) for r in nearest}
        found = visible_neighbours(photo_id=lib.photo_id(row), space=SPACE, viewer=AnonymousUser(), limit=12)
        hits += len(truth & set(found))
    return round(hits / (12 * len(rows)), 4)


def near_duplicates(lib: Library, batches: int) -> dict[str, float]:
    from django.db import transaction

    from api.tagging.similarity import flag_near_duplicates

    copies = sorted(lib.copies)[: 16 * batches]
    times, linked = [], 0
    for start in range(0, len(copies), 16):
        rows = copies[start : start + 16]
        started = time.perf_counter()
        with transaction.atomic():
            links = flag_near_duplicates(
                vectors={lib.photo_id(r): lib.vectors[r] for r in rows}, backbone=SPACE
            )
        times.append((time.perf_counter() - started) * 1000)
        linked += sum(1 for r in rows if links.get(lib.photo_id(r)) == lib.photo_id(lib.copies[r]))
    return {
        "batch_of_16_p50_ms": round(statistics.median(times), 1),
        "batch_of_16_p95_ms": round(percentile(times, 0.95), 1),
        "copies_linked_to_their_original": round(linked / max(1, len(copies)), 4),
        "batches": len(times),
    }


def training_run(stack: Stack, timeout: float) -> dict[str, Any]:
    """``manage.py train`` as the trainer would run it, on every label the library holds: wall
    time, peak RSS (sampled every 0.2 s), when each phase began, and the run's outcome; stopped
    after ``timeout`` seconds, with the epoch it had reached (``completed`` false)."""
    from api.training.models import TrainingRun

    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "manage.py", "train"], cwd=REPO, env=stack.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    peak = 0.0
    phases: dict[str, float] = {}  # when each phase was first seen, seconds from the start
    while process.poll() is None:
        peak = max(peak, rss_mb(tree(process.pid)))
        running = TrainingRun.objects.order_by("-pk").values_list("phase", flat=True).first()
        if running and running not in phases:
            phases[running] = round(time.perf_counter() - started, 1)
        time.sleep(0.2)
        if time.perf_counter() - started > timeout:
            process.terminate()
            process.wait()
    output = process.stdout.read().decode()[-2000:] if process.stdout else ""
    run = TrainingRun.objects.order_by("-pk").first()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": peak,
        "status": run.status if run else None,
        "completed": run is not None and run.status not in ("queued", "running"),
        "epoch": run.epoch if run else None,
        "total_epochs": run.total_epochs if run else None,
        "photos": (run.metrics or {}).get("photos") if run else None,
        "phase_started_s": phases,
        "metrics": {k: v for k, v in ((run.metrics or {}) if run else {}).items() if not isinstance(v, dict)},
        "output_tail": output,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--rescore-timeout", type=float, default=1800, help="stop waiting for the re-tag")
    parser.add_argument("--train", action="store_true", help="also time a training run on every label")
    parser.add_argument("--train-timeout", type=float, default=1200, help="stop the training run after this")
    parser.add_argument("--keep-db", action="store_true", help="keep the database for --reuse-db")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="time the pages and recall only, on the database a --keep-db run of the same --photos and"
        " --seed left (after its uploads, re-score and training)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="print the N busiest functions per page, then stop"
    )
    args = parser.parse_args()
    stack = Stack(DB_NAME, REDIS_DB, reuse_db=args.reuse_db)
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                       cwd=REPO, env=stack.env, check=True)  # fmt: skip
        stack.use_here()
        from trainer.day_zero import ensure_active_model

        ensure_active_model(Path(stack.env["SHARED_FS"]) / "models")
        lib = reuse(args.photos, args.seed) if args.reuse_db else seed(args.photos, args.seed)
        print(f"seeded {args.photos} photos in {lib.seed_seconds} s", flush=True)
        print(f"index built in {lib.index_build_seconds} s ({lib.index_mb} MB)", flush=True)
        background = recounts()
        print(f"background recounts: {background}", flush=True)
        if args.profile:
            some = lib.photo_id(int(np.flatnonzero(lib.visibility == "public")[7]))
            profile(
                args.profile, {k: (p.replace("{similar}", str(some)), u) for k, (p, u) in pages(lib).items()}
            )
            return
        load_before = os.getloadavg()
        base = stack.web(workers=1, threads=4)
        timings = time_pages(base, lib, args)
        public = np.flatnonzero(lib.visibility == "public").tolist()
        recall = recall_at_12(lib, random.Random(args.seed + 1).sample(public, args.sample))
        if args.reuse_db:
            p95 = {name: page["p95_ms"] for name, page in timings.items()}
            summary = {"photos": args.photos, "reused_db": True, "p95_ms": p95}
            summary["similar_recall_at_12"] = recall
            reused = {"machine": machine_facts(), "pages": timings, "summary": summary}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(reused, indent=2) + "\n")
            print(json.dumps(reused["summary"], indent=2))
            return
        duplicates = near_duplicates(lib, args.batches)
        worker = start_tagging_worker(stack)
        uploads = upload_to_tags(base, args.uploads)
        print(f"upload to tags: p50 {uploads['p50_s']} s, p95 {uploads['p95_s']} s", flush=True)
        rescore = rescore_library(worker, args.rescore_timeout)
        print(f"re-scored {rescore['photos']} photos in {rescore['seconds']} s", flush=True)
        training = training_run(stack, args.train_timeout) if args.train else None
        if training:
            print(f"training run: {training['seconds']} s, peak RSS {training['peak_rss_mb']} MB", flush=True)
        result = {
            "machine": machine_facts(),
            "photos": args.photos,
            "tags": TAGS,
            "pages": timings,
            "similar_recall_at_12": recall,
            "near_duplicates": duplicates,
            "background_recounts": background,
            "upload_to_tags": uploads,
            "rescore": rescore,
            "training_run": training,
            "seed_seconds": lib.seed_seconds,
            "index_build_seconds": lib.index_build_seconds,
            "index_mb": lib.index_mb,
            "embeddings_table_mb": lib.embeddings_table_mb,
            "loadavg_before_after": [list(load_before), list(os.getloadavg())],
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        result["summary"] = {
            "photos": args.photos,
            "p95_ms": {name: page["p95_ms"] for name, page in timings.items()},
            "similar_recall_at_12": recall,
            "upload_to_tags_p50_s": uploads["p50_s"],
            "train_seconds": training["seconds"] if training else None,
            "train_completed": training["completed"] if training else None,
            "train_peak_rss_mb": training["peak_rss_mb"] if training else None,
            "rescore_seconds": rescore["seconds"],
            "rescore_completed": rescore["completed"],
            "tag_counts_refresh_seconds": background["tag_counts_seconds"],
            "vocabulary_refresh_seconds": background["vocabulary_seconds"],
            "index_build_seconds": lib.index_build_seconds,
            "index_mb": lib.index_mb,
            "not_measured": [] if training else ["training run (add --train)"],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["summary"], indent=2))
    finally:
        stack.close(keep_db=args.keep_db or args.reuse_db)


if __name__ == "__main__":
    main()
