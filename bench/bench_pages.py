"""Page-load benchmark: how long the site's pages take with 5,000 photos in the database (with
albums, follows, favourites and comments), over HTTP from gunicorn and as a Chromium navigation.

    .venv/bin/python bench/bench_pages.py --out bench/results/pages.json

What it does, all on this machine:

1. A fresh PostgreSQL database ``tagloop_bench_pages``, Redis db 12, a temporary SHARED_FS and
   VAR_DIR (``bench/_stack.py``); ``migrate`` and ``collectstatic``; version 0 published.
2. Fills it through the services (``bench/_pages_data.py``): ``--photos`` uploads through
   ``upload_photo`` by 20 members, of ``--files`` distinct files (clothing10 photos when the
   dataset is there, else generated JPEGs), each file uploaded by several people and stored once;
   80% public, 10% unlisted, 10% private. Then, as the tagging worker writes them: 96% tagged
   with three model suggestions and an embedding (synthetic: its kind's centre plus noise), 2%
   failed with a reason, 2% left pending. People review 60%: the owner's tag, and on public
   photos other people's votes on 90% of the suggestions. Then ``manage.py train`` makes
   version 1 from the vouched-for tags, so the dashboard shows real per-tag metrics. Then
   (``bench/_social_data.py``) each member follows 8 others and makes ``--albums`` albums of 30
   photos with a viewer and a contributor (who adds 10), and ``--favourites`` favourites and
   ``--comments`` comments land on public photos, with the notifications they send.
3. Starts gunicorn (1 worker x 4 threads, ``DEBUG=0``), and for each page makes ``--warmup``
   requests, then ``--requests`` timed ones, one at a time on a keep-alive connection: time from
   sending the request to the last byte of the HTML. Pages: the feed (anonymous and signed in),
   a public photo page with its tags, the most commented photo, the album list and a shared
   album, favourites, the following feed, notifications, a profile, a search and 'Your photos'
   (signed in), the staff dashboard (staff); and the API's lists (HTTP only).
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
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pages_data import fill
from _social_data import fill_social
from _stack import REPO, Stack, machine_facts, pg_admin

DB_NAME = "tagloop_bench_pages"
REDIS_DB = 12


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
        "photo_with_comments_member": (f"/p/{most_commented_public_photo()}/", "member01"),
        "albums_member": ("/albums/", "member01"),
        "album_member": (f"/a/{a_shared_album()}/", "member01"),
        "favourites_member": ("/favourites/", "member01"),
        "following_member": ("/following/", "member01"),
        "notifications_member": ("/notifications/", "member01"),
        "profile_member": ("/u/member02/", "member01"),
        "search_member": ("/search/?q=blue+dress", "member01"),
        "my_photos_member": ("/my/photos/", "member01"),
    }


def most_commented_public_photo() -> int:
    from django.db.models import Count

    from api.social.models import Comment

    row = (
        Comment.objects.filter(photo__visibility="public")
        .values("photo_id")
        .annotate(n=Count("id"))
        .order_by("-n", "photo_id")
        .first()
    )
    assert row is not None
    return int(row["photo_id"])


def a_shared_album() -> int:
    """An album member01 was invited to, with the most photos."""
    from django.db.models import Count

    from api.albums.models import Album

    album = (
        Album.objects.filter(members__user__username="member01")
        .annotate(n=Count("entries"))
        .order_by("-n", "pk")
        .first()
    )
    assert album is not None
    return album.pk


def extras() -> dict[str, tuple[str, str | None]]:
    """What the pages load after themselves or link to, and the API's lists: HTTP timings only."""
    photo_path, _ = pages()["photo_member"]
    commented = most_commented_public_photo()
    album = a_shared_album()
    return {
        "similar_strip_member": (f"{photo_path}similar/", "member01"),
        "help_page_member": ("/help/", "member01"),
        "api_albums_member": ("/api/albums/", "member01"),
        "api_album_member": (f"/api/albums/{album}/", "member01"),
        "api_album_photos_member": (f"/api/albums/{album}/photos/", "member01"),
        "api_comments_member": (f"/api/photos/{commented}/comments/", "member01"),
        "api_favourites_member": ("/api/favourites/", "member01"),
        "api_following_feed_member": ("/api/feed/following/", "member01"),
        "api_notifications_member": ("/api/notifications/", "member01"),
        "api_person_member": ("/api/users/member02/", "member01"),
        "api_photos_member": ("/api/photos/", "member01"),
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


def profile(top: int, targets: dict[str, tuple[str, str | None]] | None = None) -> None:
    """Where each page's server time goes (``targets``, this benchmark's pages by default):
    queries (count and time) and the busiest functions."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if targets is None:
        targets = {**pages(), "help_page_member": extras()["help_page_member"]}
    for name, (path, user) in targets.items():
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
        pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def machine() -> dict[str, Any]:
    return {**machine_facts(), "gunicorn": "1 worker x 4 threads (gthread), DEBUG=0"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument(
        "--files", type=int, default=250, help="distinct image files behind the photos (photos / 20 at least)"
    )
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "datasets" / "clothing10")
    parser.add_argument("--albums", type=int, default=5, help="albums per member (20 members)")
    parser.add_argument("--favourites", type=int, default=20000)
    parser.add_argument("--comments", type=int, default=10000)
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
        print("albums, follows, favourites and comments…", flush=True)
        result["data"]["social"] = fill_social(args, args.seed)
        # The planner's statistics, as autovacuum would have them a minute after such a load:
        # straight after the fill it still thinks the tables are empty and plans for that.
        pg_admin("ANALYZE", database=DB_NAME)
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
