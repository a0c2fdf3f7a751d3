"""Page-load benchmark: how long the feed, a photo page and the staff dashboard take with 5,000
photos in the database, over HTTP from gunicorn and as a Chromium navigation.

    .venv/bin/python bench/bench_pages.py --out bench/results/pages.json

What it does, all on this machine:

1. A fresh PostgreSQL database ``tagloop_bench_pages``, Redis db 12, a temporary SHARED_FS and
   VAR_DIR (``bench/_stack.py``); ``migrate`` and ``collectstatic``; version 0 published.
2. Fills it: ``--files`` distinct photos uploaded through ``upload_photo`` (clothing10 photos when
   the dataset is there, else generated JPEGs), then rows up to ``--photos`` that reuse those
   files (as identical uploads by several people would), 20 members, 80% public, 10% unlisted,
   10% private; 96% tagged, 2% pending, 2% failed with a reason; each photo gets three model
   suggestions, 60% of them also their owner's tag and other people's votes on 90% of the
   suggestions; and an embedding row (synthetic: its kind's centre plus noise). Then ``manage.py train`` makes
   version 1 from the vouched-for tags, so the dashboard shows real per-tag metrics.
3. Starts gunicorn (1 worker x 4 threads, ``DEBUG=0``), and for each page makes ``--warmup``
   requests, then ``--requests`` timed ones, one at a time on a keep-alive connection: time from
   sending the request to the last byte of the HTML. Pages: the feed (anonymous and signed in),
   a public photo page with its tags (signed in), the staff dashboard (staff).
4. Headless Chromium navigations per page after a warm-up one (``--navigations`` of them): the
   Navigation Timing entry (response end, DOMContentLoaded, load event), with thumbnails, CSS
   and scripts loaded from the same gunicorn; then a full-page screenshot of each page at 1280
   and 390 px wide (``--screenshots``).
5. Writes p50/p95/mean per page, the navigation timings, the data's size, the machine and
   ``os.getloadavg()`` before and after each phase (others may be using the CPU) to ``--out``
   and a copy to ``--copy``; stops gunicorn and drops the database, also when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import REPO, Stack, machine_facts

DB_NAME = "tagloop_bench_pages"
REDIS_DB = 12
KINDS_FALLBACK = [
    "dress",
    "hat",
    "longsleeve",
    "outwear",
    "pants",
    "shirt",
    "shoes",
    "shorts",
    "skirt",
    "t-shirt",
]
# What the day-zero ImageNet model plausibly suggests for each kind of photo (its tag names).
SUGGESTIONS = {
    "dress": ["gown", "overskirt"], "hat": ["cowboy_hat", "sombrero"],
    "longsleeve": ["sweatshirt", "cardigan"], "outwear": ["trench_coat", "fur_coat"],
    "pants": ["jean", "suit"], "shirt": ["jersey", "bow_tie"],
    "shoes": ["running_shoe", "loafer"], "shorts": ["swimming_trunks", "pajama"],
    "skirt": ["miniskirt", "overskirt"], "t-shirt": ["jersey", "sweatshirt"],
}  # fmt: skip
MODEL_TAGS = sorted({name for names in SUGGESTIONS.values() for name in names})
FAIL_REASONS = [
    "cannot identify image file: not a format we can read",
    "Truncated file: the image ends early",
    "Decompression bomb: 61,000,000 pixels is more than the 50,000,000 allowed",
]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)

    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": at(0.95),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def source_images(dataset: Path | None, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """(kind, JPEG bytes): real clothing photos when the dataset is there, else noise JPEGs."""
    if dataset is not None and (dataset / "train").is_dir():
        by_kind: dict[str, list[Path]] = {}
        for path in sorted((dataset / "train").rglob("*.jpg")):
            by_kind.setdefault(path.parent.name, []).append(path)
        kinds = sorted(by_kind)
        chosen = [(k, rng.choice(by_kind[k])) for k in kinds for _ in range(count // len(kinds))]
        return [(kind, path.read_bytes()) for kind, path in chosen]
    out = []
    for i in range(count):
        noise = np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).resize((640, 480)).save(buffer, format="JPEG", quality=85)
        out.append((KINDS_FALLBACK[i % len(KINDS_FALLBACK)], buffer.getvalue()))
    return out


def fill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.db.models import Count
    from django.utils import timezone

    from api.photos.models import Photo
    from api.photos.services import upload_photo
    from api.tagging.models import PhotoEmbedding, WorkerStatus
    from api.tags.models import PhotoTag, Tag, TagVote
    from trainer.backbones import DEFAULT_BACKBONE
    from trainer.day_zero import ensure_active_model

    rng = random.Random(args.seed)
    np_rng = np.random.default_rng(args.seed)
    ensure_active_model(Path(stack.env["SHARED_FS"]) / "models")
    members = [User.objects.create_user(f"member{i:02d}", password="bench-pass-4821") for i in range(20)]
    User.objects.create_user("boss", password="bench-pass-4821", is_staff=True)
    started = time.perf_counter()

    sources = source_images(args.dataset, args.files, rng)
    originals: list[tuple[str, Photo]] = []
    for i, (kind, data) in enumerate(sources):
        with transaction.atomic():
            photo = upload_photo(owner=members[i % len(members)], data=data, caption=f"A {kind}")
        originals.append((kind, photo))
    kinds = sorted({kind for kind, _ in sources})

    now = timezone.now()
    rows = []
    plan = []
    for i in range(args.photos - len(originals)):
        kind, source = originals[i % len(originals)]
        roll = rng.random()
        visibility = "public" if roll < 0.8 else "unlisted" if roll < 0.9 else "private"
        state = rng.random()
        status = "tagged" if state < 0.96 else "pending" if state < 0.98 else "failed"
        rows.append(
            Photo(
                owner=rng.choice(members),
                content_hash=source.content_hash,
                file_ext=source.file_ext,
                mime_type=source.mime_type,
                byte_size=source.byte_size,
                width=source.width,
                height=source.height,
                caption=f"My {kind}, take {i}",
                visibility=visibility,
                status=status,
                status_reason=rng.choice(FAIL_REASONS) if status == "failed" else "",
                model_version=0 if status == "tagged" else None,
            )
        )
        plan.append(kind)
    created = Photo.objects.bulk_create(rows, batch_size=1000)
    kind_of = {photo.pk: kind for kind, photo in originals}
    kind_of.update({photo.pk: kind for photo, kind in zip(created, plan, strict=True)})
    Photo.objects.filter(pk__in=[p.pk for _, p in originals]).update(status="tagged", model_version=0)
    # Spread uploads over 30 days, newest last; a few hundred tagged in the last hour for the chart.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE photos_photo SET created_at = %s - (%s - id) * interval '8 minutes', "
            "tagged_at = CASE WHEN status = 'tagged' THEN %s - (%s - id) * interval '8 minutes' END",
            [
                now,
                Photo.objects.order_by("-id").values_list("id", flat=True).first(),
                now,
                Photo.objects.order_by("-id").values_list("id", flat=True).first(),
            ],
        )
    recent = list(Photo.objects.filter(status="tagged").order_by("-id").values_list("id", flat=True)[:300])
    for photo_id in recent:
        Photo.objects.filter(pk=photo_id).update(tagged_at=now - timedelta(seconds=rng.uniform(0, 3600)))

    all_photos = list(Photo.objects.order_by("id").values_list("id", "owner_id"))
    tag_ids = {name: Tag.objects.get_or_create(name=name)[0].pk for name in [*kinds, *MODEL_TAGS]}

    # People look at 60% of the photos: the owner tags it, others vote on most suggestions. The rest
    # carry only the model's suggestions, as photos nobody has reviewed do.
    reviewed = {photo_id for photo_id, _ in all_photos if rng.random() < 0.6}
    photo_tags: list[PhotoTag] = []
    for photo_id, owner_id in all_photos:
        kind = kind_of[photo_id]
        if photo_id in reviewed:
            photo_tags.append(
                PhotoTag(
                    photo_id=photo_id,
                    tag_id=tag_ids[kind],
                    source="user",
                    state="confirmed",
                    added_by_id=owner_id,
                )
            )
        # Two fitting suggestions and one wrong one; people mostly confirm the first, reject the last.
        fitting = SUGGESTIONS.get(kind, MODEL_TAGS[:2])
        wrong = rng.choice([t for t in MODEL_TAGS if t not in fitting])
        for name in [*fitting, wrong]:
            photo_tags.append(
                PhotoTag(
                    photo_id=photo_id,
                    tag_id=tag_ids[name],
                    source="model",
                    state="suggested",
                    score=round(rng.uniform(0.16, 0.9), 3),
                    model_version=0,
                )
            )
    PhotoTag.objects.bulk_create(photo_tags, batch_size=2000)
    owners = dict(all_photos)
    votes: list[TagVote] = []
    decided: dict[str, list[int]] = {"confirmed": [], "rejected": []}
    rows = PhotoTag.objects.values_list("id", "photo_id", "source", "tag__name")
    for pt_id, photo_id, source, name in rows:
        if source == "user":
            votes.append(TagVote(photo_tag_id=pt_id, user_id=owners[photo_id], value="confirm"))
        elif photo_id in reviewed and rng.random() < 0.9:
            voter = rng.choice([m for m in members if m.pk != owners[photo_id]])
            fits = name in SUGGESTIONS.get(kind_of[photo_id], [])
            value = "confirm" if (rng.random() < 0.85) == fits else "reject"
            votes.append(TagVote(photo_tag_id=pt_id, user_id=voter.pk, value=value))
            decided["confirmed" if value == "confirm" else "rejected"].append(pt_id)
    TagVote.objects.bulk_create(votes, batch_size=2000)
    for state, ids in decided.items():
        PhotoTag.objects.filter(pk__in=ids).update(state=state)

    centres = {kind: np_rng.normal(0, 1, 1280) for kind in kinds}
    embeddings = [
        PhotoEmbedding(
            photo_id=photo_id,
            backbone=DEFAULT_BACKBONE,
            dim=1280,
            vector=(centres[kind_of[photo_id]] + np_rng.normal(0, 1.2, 1280)).astype(np.float16).tobytes(),
        )
        for photo_id, _ in all_photos
    ]
    PhotoEmbedding.objects.bulk_create(embeddings, batch_size=1000)
    for i in range(2):
        WorkerStatus.objects.create(
            name=f"bench-worker-{i}:{1000 + i}",
            device="cpu",
            model_version=1,
            photos_tagged=2400 + i,
            started_at=now - timedelta(hours=3),
            last_seen=now,
        )
    filled_s = time.perf_counter() - started

    train = subprocess.run(
        [sys.executable, "manage.py", "train"], cwd=REPO, env=stack.env, capture_output=True, text=True
    )
    if train.returncode != 0:
        raise SystemExit(f"manage.py train failed:\n{train.stdout}\n{train.stderr[-3000:]}")
    counts = {
        "photos": Photo.objects.count(),
        "distinct_files": len(originals),
        "by_visibility": dict(Photo.objects.values_list("visibility").annotate(n=Count("id")).order_by()),
        "by_status": dict(Photo.objects.values_list("status").annotate(n=Count("id")).order_by()),
        "members": len(members),
        "tags": Tag.objects.count(),
        "photo_tags": PhotoTag.objects.count(),
        "votes": TagVote.objects.count(),
        "embeddings": PhotoEmbedding.objects.count(),
        "fill_seconds": round(filled_s, 1),
        "training": train.stdout.strip(),
    }
    return counts


def session_cookie(username: str) -> str:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client.cookies["sessionid"].value


def pages() -> dict[str, tuple[str, str | None]]:
    """name: (path, who is signed in)."""
    from api.photos.models import Photo
    from api.tags.models import PhotoTag

    photo_id = (
        PhotoTag.objects.filter(photo__visibility="public", photo__status="tagged", source="user")
        .order_by("-photo_id")
        .values_list("photo_id", flat=True)
        .first()
    )
    assert photo_id is not None and Photo.objects.filter(pk=photo_id).exists()
    return {
        "feed_anonymous": ("/", None),
        "feed_member": ("/", "member01"),
        "photo_member": (f"/p/{photo_id}/", "member01"),
        "dashboard_staff": ("/staff/", "boss"),
    }


def extras() -> dict[str, tuple[str, str | None]]:
    """What the pages load after themselves or link to: HTTP timings only."""
    photo_path, _ = pages()["photo_member"]
    return {
        "similar_strip_member": (f"{photo_path}similar/", "member01"),
        "help_page_member": ("/help/", "member01"),
    }


def http_timings(base: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, (path, user) in {**pages(), **extras()}.items():
        session = requests.Session()
        if user:
            session.cookies.set("sessionid", session_cookie(user))
        for _ in range(args.warmup):
            session.get(base + path).raise_for_status()
        load_before = loadavg()
        samples, sizes = [], set()
        for _ in range(args.requests):
            started = time.perf_counter()
            answer = session.get(base + path)
            body = answer.content
            samples.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            sizes.add(len(body))
        results[name] = {
            "path": path,
            "signed_in_as": user,
            **percentiles(samples),
            "html_bytes": sorted(sizes),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        }
        print(
            f"  {name:16} p50 {results[name]['p50_ms']:7.1f} ms  p95 {results[name]['p95_ms']:7.1f} ms",
            flush=True,
        )
    return results


def chromium_timings(base: str, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread, and Django refuses queries there: ask first.
    targets = {name: (path, session_cookie(user) if user else None) for name, (path, user) in pages().items()}
    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        for name, (path, cookie) in targets.items():
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            if cookie:
                context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            page = context.new_page()
            runs = []
            for attempt in range(args.navigations + 1):
                page.goto(base + path, wait_until="load")
                timing = page.evaluate(
                    """() => { const n = performance.getEntriesByType('navigation')[0];
                       return {response_end_ms: n.responseEnd - n.startTime,
                               dom_content_loaded_ms: n.domContentLoadedEventEnd - n.startTime,
                               load_event_ms: n.loadEventEnd - n.startTime,
                               resources: performance.getEntriesByType('resource').length}; }"""
                )
                if attempt:  # the first one fills the browser's cache of CSS and scripts
                    runs.append({k: round(v, 1) for k, v in timing.items()})
            results[name] = {
                "path": path,
                "runs": runs,
                "load_event_p50_ms": round(statistics.median(r["load_event_ms"] for r in runs), 1),
                "response_end_p50_ms": round(statistics.median(r["response_end_ms"] for r in runs), 1),
            }
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.screenshots / f"{name}.png"), full_page=True)
                page.set_viewport_size({"width": 390, "height": 844})
                page.reload(wait_until="load")
                page.screenshot(path=str(args.screenshots / f"{name}-phone.png"), full_page=True)
            print(f"  {name:16} load event p50 {results[name]['load_event_p50_ms']:7.1f} ms", flush=True)
            context.close()
        browser.close()
    return results


def profile(top: int) -> None:
    """Where each page's server time goes: queries (count and time) and the busiest functions."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    for name, (path, user) in pages().items():
        client = Client(SERVER_NAME="localhost")  # an allowed host: the stack runs with DEBUG=0
        if user:
            client.cookies["sessionid"] = session_cookie(user)
        assert client.get(path).status_code == 200, path
        profiler = cProfile.Profile()
        with CaptureQueriesContext(connection) as captured:
            profiler.enable()
            client.get(path)
            profiler.disable()
        query_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
        print(f"--- {name}: {len(captured.captured_queries)} queries, {query_ms:.1f} ms in the database")
        for query in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:3]:
            print(f"    {float(query['time']) * 1000:6.1f} ms  {query['sql'][:150]}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def machine() -> dict[str, Any]:
    return {**machine_facts(), "gunicorn": "1 worker x 4 threads (gthread), DEBUG=0"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--files", type=int, default=60, help="distinct image files behind the photos")
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "datasets" / "clothing10")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--navigations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pages.json")
    parser.add_argument("--copy", type=Path, default=REPO / "docs" / "bench" / "pages.json")
    parser.add_argument("--screenshots", type=Path, default=REPO / "bench" / "results" / "screenshots")
    parser.add_argument(
        "--profile", type=int, default=0, help="print the N busiest functions per page, then stop"
    )
    args = parser.parse_args()
    if not args.dataset.is_dir():
        args.dataset = None

    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine()}
    result["loadavg"] = {"start": loadavg()}
    stack = Stack(DB_NAME, REDIS_DB, MIN_PHOTOS_PER_TAG="10")
    try:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=stack.env,
            check=True,
        )
        stack.use_here()
        print(f"filling the database with {args.photos} photos…", flush=True)
        result["data"] = fill(stack, args)
        result["loadavg"]["after_fill"] = loadavg()
        if args.profile:
            profile(args.profile)
            return 0
        base = stack.web()
        print("HTTP, one request at a time:", flush=True)
        result["http"] = http_timings(base, args)
        result["loadavg"]["after_http"] = loadavg()
        print("Chromium navigations:", flush=True)
        result["chromium"] = chromium_timings(base, args)
        result["loadavg"]["end"] = loadavg()
    finally:
        stack.close()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}").flushdb()
    for path in (args.out, args.copy):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out} and {args.copy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
