"""The compose stack booted by Docker's engine and used from outside, through nginx, as a site's
people and its staff would: sign up, upload, day-zero tags, teach two tags, retrain, restarts
with work in flight, three workers, and `down` / `up` keeping everything.

It needs Docker's engine: where there is none it says so and is skipped, except with CI=true,
where it installs what it needs (tests/deploy/docker_host.py) and must run. The tests of this
module build on each other in order, as one site's life; each says what it adds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.deploy.compose_stack import ADMIN, PROJECT, ComposeStack
from tests.deploy.docker_host import DockerUnavailable, ensure_compose, ensure_engine, ensure_standins
from tests.helpers.bundles import CAT_CLASSES
from tests.helpers.images import photo_of_kind
from tests.helpers.paths import REPO

TIMES = REPO / "test-artifacts" / "compose_stack.json"
CAT = (REPO / "tests" / "fixtures" / "cat.jpg").read_bytes()  # a real photo: day zero knows cats
_seeds = iter(range(1000, 100000))


def a_photo(kind: str = "reds") -> bytes:
    return photo_of_kind(kind, next(_seeds))


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    in_ci = os.environ.get("CI") == "true"
    try:
        ensure_engine(may_install=in_ci)
        ensure_compose(may_install=in_ci)
    except DockerUnavailable as missing:
        if in_ci:
            raise
        pytest.skip(f"{missing}: the compose stack is not booted here")
    times: dict[str, float] = {}
    started = time.monotonic()
    stack = ComposeStack(ensure_standins())
    times["stand-ins"] = time.monotonic() - started
    stack.compose("down", "-v", "--remove-orphans", check=False)  # what an interrupted run left
    mark = time.monotonic()
    stack.compose("build", timeout=3600)
    times["build"] = time.monotonic() - mark
    mark = time.monotonic()
    try:
        stack.compose("up", "-d", "--wait", "--wait-timeout", "600", timeout=900)
    except AssertionError as failed:
        raise AssertionError(f"{failed}\n{stack.logs()}") from None
    times["up --wait"] = time.monotonic() - mark
    stack.manage("createsuperuser", "--noinput", "--username", ADMIN[0], "--email", "boss@example.com",
                 DJANGO_SUPERUSER_PASSWORD=ADMIN[1])  # fmt: skip
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        times["total"] = time.monotonic() - started
        TIMES.parent.mkdir(exist_ok=True)
        TIMES.write_text(json.dumps({k: round(v, 1) for k, v in times.items()}, indent=2) + "\n")


@pytest.fixture(scope="module")
def alice(stack: ComposeStack) -> str:
    return stack.register("alice")


@pytest.fixture(scope="module")
def staff(stack: ComposeStack) -> str:
    return stack.token(*ADMIN)


def alices_photos(stack: ComposeStack, token: str) -> list[dict[str, Any]]:
    """Every photo of alice's, through the API's pages."""
    photos: list[dict[str, Any]] = []
    page: str | None = "/api/photos/?owner=alice"
    while page:
        answer = stack.http("GET", page.removeprefix(stack.base), token).json()
        photos += answer["results"]
        page = answer["next"]
    return photos


def test_without_a_secret_key_compose_still_answers_and_the_site_refuses_to_start(
    stack: ComposeStack,
) -> None:
    assert f"{PROJECT}-api-1" in stack.compose("ps", SECRET_KEY="")
    refused = stack.compose("run", "--rm", "--no-deps", "-e", "SECRET_KEY=", "api", "python", "manage.py",
                            "check", check=False, SECRET_KEY="")  # fmt: skip
    assert "SECRET_KEY is required when DEBUG is off" in refused


# ---- a newcomer ------------------------------------------------------------------------------


def test_the_site_is_published_on_this_machine_only(stack: ComposeStack) -> None:
    published = stack.compose("port", "web", "80").strip()
    assert published == f"127.0.0.1:{stack.port}"


def test_a_newcomer_uploads_a_photo_through_nginx_and_sees_the_day_zero_models_tags(
    stack: ComposeStack, alice: str
) -> None:
    photo_id = stack.upload(alice, CAT, "cat.jpg")
    stack.wait_until(lambda: stack.tagged(alice, photo_id, version=0), "the day-zero model to tag it", 120)

    photo = stack.photo(alice, photo_id)
    suggested = {
        tag["name"] for tag in photo["tags"] if tag["source"] == "model" and tag["model_version"] == 0
    }
    assert suggested & CAT_CLASSES, photo["tags"]
    # The original comes from nginx: Django only checked who may see it (X-Accel-Redirect).
    original = stack.http("GET", photo["image_url"].removeprefix(stack.base), alice)
    assert original.status_code == 200 and original.headers["Content-Type"] == "image/jpeg"
    assert original.headers["Server"] == "nginx" and original.content[:2] == b"\xff\xd8"


# ---- the loop --------------------------------------------------------------------------------


def test_people_teach_two_tags_and_a_staff_retrain_serves_the_new_version(
    stack: ComposeStack, alice: str, staff: str
) -> None:
    taught = [
        stack.upload(alice, a_photo(kind), f"{kind}.jpg", tags=kind)
        for _ in range(6)
        for kind in ("reds", "greens")
    ]
    stack.wait_until(lambda: all(stack.tagged(alice, p) for p in taught), "the taught photos to be tagged")

    started = stack.http("POST", "/api/training-runs/", staff)
    assert started.status_code == 202, started.text
    run_url = f"/api/training-runs/{started.json()['id']}/"
    stack.wait_until(
        lambda: stack.http("GET", run_url, staff).json()["status"] not in {"queued", "running"},
        "the training run", 900,
    )  # fmt: skip
    run = stack.http("GET", run_url, staff).json()
    assert run["status"] == "succeeded", run["error"]
    assert run["model_version"] == 1
    versions = {v["version"]: v["status"] for v in stack.http("GET", "/api/models/", staff).json()}
    assert versions[1] == "active"

    fresh = stack.upload(alice, a_photo("greens"), "fresh.jpg")
    stack.wait_until(lambda: stack.tagged(alice, fresh, version=1), "version 1 to tag a fresh upload")
    best = max(stack.photo(alice, fresh)["tags"], key=lambda t: t["score"] or 0)
    assert best["name"] == "greens" and best["source"] == "model"


# ---- restarts with work in flight --------------------------------------------------------------


def workers_started(stack: ComposeStack, staff: str) -> list[datetime]:
    workers = stack.http("GET", "/api/system/", staff).json()["workers"]
    return [datetime.fromisoformat(w["started_at"]) for w in workers]


def upload_until_accepted(stack: ComposeStack, token: str, refusals: list[int]) -> int:
    """What an uploader does while a service restarts: send the same file again until the site
    takes it. An attempt answered with an error may still have been stored (the database went
    away after the commit): the retry is then refused as a duplicate, naming the stored photo."""
    data = a_photo()
    deadline = time.monotonic() + 180
    while True:
        try:
            sent = stack.http("POST", "/api/photos/", token, files={"image": ("p.jpg", data)})
        except (requests.ConnectionError, requests.Timeout):
            sent = None
        if sent is not None and sent.status_code == 201:
            return int(sent.json()["id"])
        if sent is not None and sent.status_code == 409:
            return int(sent.json()["existing_id"])
        refusals.append(0 if sent is None else sent.status_code)
        assert time.monotonic() < deadline, f"uploads refused for 3 minutes: {refusals}"
        time.sleep(1)


@pytest.mark.parametrize("service", ["worker", "trainer", "db", "redis"])
def test_a_service_restarted_with_uploads_in_flight_loses_none_of_them(
    stack: ComposeStack, alice: str, staff: str, service: str
) -> None:
    before = {p["id"] for p in alices_photos(stack, alice)}
    accepted: list[int] = []
    refusals: list[int] = []
    burst = threading.Thread(
        target=lambda: accepted.extend(upload_until_accepted(stack, alice, refusals) for _ in range(4))
    )
    burst.start()
    restarted_at = datetime.now().astimezone()
    stack.compose("restart", service, timeout=300)
    burst.join()

    stack.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
    stack.wait_until(
        lambda: all(stack.tagged(alice, p) for p in accepted), f"the uploads after {service}", 240
    )
    # Every upload the site took is there and tagged, once: a refused attempt (while the database
    # or the broker was away: a 5xx the uploader retried) left no second photo behind.
    assert len(accepted) == 4 and all(code == 0 or code >= 500 for code in refusals), refusals
    assert {p["id"] for p in alices_photos(stack, alice)} == before | set(accepted)
    if service == "worker":
        # A new start is a new worker on the system page, not the old one's row taken over.
        stack.wait_until(
            lambda: max(workers_started(stack, staff)) > restarted_at, "the new worker's heartbeat"
        )


def mounts(stack: ComposeStack, service: str) -> list[dict[str, Any]]:
    container = stack.compose("ps", "-q", service).strip()
    inspected = json.loads(stack.docker("inspect", container))
    return list(inspected[0]["Mounts"])


def test_beats_schedule_is_kept_on_a_volume_of_its_own(stack: ComposeStack) -> None:
    (state,) = [m for m in mounts(stack, "trainer") if m["Destination"] == "/var/lib/tagloop"]
    assert state["Type"] == "volume" and state["Name"] == f"{PROJECT}_trainer_state"
    listed = stack.compose("exec", "-T", "trainer", "ls", "/var/lib/tagloop")
    assert "celerybeat-schedule" in listed


def test_redis_keeps_nothing_on_disk_and_leaves_no_volume_behind(stack: ComposeStack) -> None:
    assert [m["Type"] for m in mounts(stack, "redis")] == []  # /data is a tmpfs, not a volume
    save = stack.compose("exec", "-T", "redis", "redis-cli", "config", "get", "save").split()
    appendonly = stack.compose("exec", "-T", "redis", "redis-cli", "config", "get", "appendonly").split()
    assert save == ["save"] and appendonly == ["appendonly", "no"]


# ---- more workers --------------------------------------------------------------------------


def nothing_to_tag(stack: ComposeStack, staff: str) -> bool:
    backlog = stack.http("GET", "/api/system/", staff).json()["backlog"]
    return bool(backlog["pending"] == backlog["in_progress"] == backlog["retagging"] == 0)


def tagged_counts(stack: ComposeStack, staff: str) -> int:
    workers = stack.http("GET", "/api/system/", staff).json()["workers"]
    return sum(int(w["photos_tagged"]) for w in workers)


def test_three_workers_tag_a_burst_each_photo_exactly_once(
    stack: ComposeStack, alice: str, staff: str
) -> None:
    stack.compose("up", "-d", "--wait", "--wait-timeout", "300", "--scale", "worker=3", timeout=400)
    assert len(stack.compose("ps", "-q", "worker").split()) == 3
    stack.wait_until(lambda: len(stack.http("GET", "/api/system/", staff).json()["workers"]) >= 3,
                     "three workers' heartbeats")  # fmt: skip
    # Nothing else to tag (re-tagging after the retrain included), so the counts below are the burst's.
    stack.wait_until(lambda: nothing_to_tag(stack, staff), "an empty backlog")
    before = tagged_counts(stack, staff)
    burst = [stack.upload(alice, a_photo(kind)) for kind in ("reds", "greens", "blues") * 10]
    stack.wait_until(lambda: all(stack.tagged(alice, p) for p in burst), "the burst to be tagged", 300)

    # Each worker counts the photos it tagged: together exactly the burst, none twice.
    stack.wait_until(lambda: tagged_counts(stack, staff) - before >= len(burst), "the workers' counts", 30)
    assert tagged_counts(stack, staff) - before == len(burst)
    stack.compose("up", "-d", "--wait", "--wait-timeout", "300", "--scale", "worker=1", timeout=400)


# ---- down and up ---------------------------------------------------------------------------


def everything(stack: ComposeStack, alice: str, staff: str) -> tuple[Any, ...]:
    listed = sorted((p["id"], p["status"], sorted((t["name"], t["source"], t["state"]) for t in p["tags"]))
                    for p in alices_photos(stack, alice))  # fmt: skip
    versions = sorted((v["version"], v["status"]) for v in stack.http("GET", "/api/models/", staff).json())
    return listed, versions


def test_down_and_up_keep_every_photo_tag_and_model_version(
    stack: ComposeStack, alice: str, staff: str
) -> None:
    kept = everything(stack, alice, staff)
    stack.compose("down", timeout=300)
    stack.compose("up", "-d", "--wait", "--wait-timeout", "600", timeout=900)

    assert everything(stack, alice, staff) == kept
    # And the site goes on: version 1 tags a new upload.
    fresh = stack.upload(alice, a_photo("reds"))
    stack.wait_until(lambda: stack.tagged(alice, fresh, version=1), "version 1 after down and up")
