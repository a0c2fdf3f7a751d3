"""Auto-tagging with real Celery workers on Redis and PostgreSQL: uploads get tags with
provenance, new bundles are picked up between batches, broken ones refused, rejections respected,
work claimed exactly once and recovered from dead workers."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils.html import escape
from PIL import Image
from playwright.sync_api import Page, expect

from api import volume
from api.celery import app
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging import services
from api.tagging.models import PhotoEmbedding, WorkerStatus
from api.tagging.tasks import sweep, tag_pending
from api.tags.models import PhotoTag
from tests.helpers.browser import drop_files, shot
from tests.helpers.bundles import CAT_CLASSES, publish_head
from tests.helpers.clients import client_for, upload
from tests.helpers.images import image_bytes
from tests.helpers.paths import REPO
from tests.helpers.workers import (
    celery_worker,
    env_for_test_database,
    module_fs,
    photo_nobody_can_claim,
    shared_fs,
    tagged,
    wait_until,
)
from trainer import bundle
from trainer.manifest import HEAD_FILE

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

CAT = (REPO / "tests" / "fixtures" / "cat.jpg").read_bytes()


@pytest.fixture(scope="module")
def tagging_worker(
    module_fs: Path, tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[str]:
    app.control.purge()
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    with celery_worker("tagging", env=env_for_test_database(module_fs), log=log):
        yield str(log)


def test_an_uploaded_photo_is_tagged_by_version_0_with_provenance(
    tagging_worker: str, shared_fs: Path, alice: User
) -> None:
    response = upload(client_for(alice), CAT, "cat.jpg")
    assert response.status_code == 201 and response.json()["status"] == "pending"
    photo_id = response.json()["id"]

    wait_until(tagged(photo_id), what="the cat to be tagged")

    body = client_for(alice).get(f"/api/photos/{photo_id}/").json()
    assert body["status"] == "tagged" and body["model_version"] == 0
    model_tags = [t for t in body["tags"] if t["source"] == "model"]
    assert {t["name"] for t in model_tags} & CAT_CLASSES
    for tag in model_tags:
        assert (tag["state"], tag["model_version"], tag["added_by"]) == ("suggested", 0, None)
        assert 0.15 <= tag["score"] <= 1
    embedding = PhotoEmbedding.objects.get(photo_id=photo_id)
    assert (embedding.backbone, embedding.dim, len(bytes(embedding.vector))) == (
        "efficientnet_lite0",
        1280,
        2560,
    )
    system = client_for(None).get("/api/system/").json()
    assert system["active_model"]["version"] == 0 and system["backlog"]["pending"] == 0
    assert system["throughput"]["last_5_minutes"] >= 1
    assert any(w["device"] == "cpu" and w["model_version"] == 0 and w["alive"] for w in system["workers"])
    assert system["gpus"] == "cpu"


def test_running_the_task_twice_tags_nothing_twice(tagging_worker: str, shared_fs: Path, alice: User) -> None:
    photo = upload_photo(owner=alice, data=CAT)
    wait_until(tagged(photo.pk), what="the first tagging")
    before = list(PhotoTag.objects.filter(photo=photo).values_list("id", "tag__name", "score"))
    tagged_at = Photo.objects.get(pk=photo.pk).tagged_at

    assert tag_pending() == 0
    assert tag_pending() == 0

    assert list(PhotoTag.objects.filter(photo=photo).values_list("id", "tag__name", "score")) == before
    assert Photo.objects.get(pk=photo.pk).tagged_at == tagged_at


def test_a_new_bundle_is_used_by_the_next_batch_and_a_broken_one_is_refused_and_the_status_says_why(
    tagging_worker: str, shared_fs: Path, alice: User, make_user: Callable[..., User]
) -> None:
    models = shared_fs / "models"
    first = upload_photo(owner=alice, data=image_bytes(color=(250, 10, 10)))
    wait_until(tagged(first.pk, 0), what="tagging with version 0")

    publish_head(models, 1, ["red_thing", "blue_thing"], [6.0, -6.0])
    bundle.activate(models, 1)
    second = upload_photo(owner=alice, data=image_bytes(color=(240, 20, 20)))

    wait_until(tagged(second.pk, 1), what="the next upload to use version 1")
    assert list(PhotoTag.objects.filter(photo=second).values_list("tag__name", "model_version")) == [
        ("red_thing", 1)
    ]
    # Older photos are re-tagged in the background, their unreviewed suggestions replaced.
    wait_until(tagged(first.pk, 1), what="re-tagging of the older photo")
    assert list(PhotoTag.objects.filter(photo=first).values_list("tag__name", flat=True)) == ["red_thing"]

    publish_head(models, 2, ["green_thing"], [6.0])
    head = bundle.bundle_dir(models, 2) / HEAD_FILE
    head.write_bytes(head.read_bytes()[:-8] + b"garbage!")
    (models / "CURRENT").write_text("2\n")  # a damaged bundle made active behind the gate's back
    third = upload_photo(owner=alice, data=image_bytes(color=(230, 30, 30)))

    wait_until(tagged(third.pk), what="tagging while version 2 is broken")
    assert Photo.objects.get(pk=third.pk).model_version == 1
    wait_until(
        lambda: (
            "version 2 refused" in (WorkerStatus.objects.first() or WorkerStatus(model_error="")).model_error
        ),
        what="the worker to report the refusal",
    )
    system = client_for(None).get("/api/system/").json()
    assert system["workers"][0]["model_version"] == 1
    assert f"{HEAD_FILE} is damaged" in system["workers"][0]["model_error"]
    # The status page names the version CURRENT points at, and says why it is not the one tagging.
    assert system["active_model"]["version"] == 2
    why = system["active_model"]["error"]
    assert why.startswith("version 2 refused:") and why.endswith("Workers keep serving version 1.")
    staff = Client()
    staff.force_login(make_user("boss", staff=True))
    assert escape(why) in staff.get("/staff/").content.decode()


def test_a_rejected_suggestion_never_comes_back_after_re_tagging(
    tagging_worker: str, shared_fs: Path, alice: User
) -> None:
    photo = upload_photo(owner=alice, data=CAT)
    wait_until(tagged(photo.pk, 0), what="tagging with version 0")
    suggestions = list(
        PhotoTag.objects.filter(photo=photo).order_by("-score").values_list("tag__name", flat=True)
    )
    rejected, confirmed = suggestions[0], suggestions[1]
    client_for(alice).post(f"/api/photos/{photo.pk}/tags/{rejected}/reject/")
    client_for(alice).post(f"/api/photos/{photo.pk}/tags/{confirmed}/confirm/")

    models = shared_fs / "models"
    publish_head(models, 1, [rejected, confirmed, "whiskers"], [6.0, 6.0, 6.0])
    bundle.activate(models, 1)
    tag_pending.delay()

    wait_until(tagged(photo.pk, 1), what="re-tagging with version 1")
    rows = {pt.tag.name: pt for pt in PhotoTag.objects.filter(photo=photo).select_related("tag")}
    assert (rows[rejected].state, rows[rejected].model_version) == ("rejected", 0)
    assert (rows[confirmed].state, rows[confirmed].model_version) == ("confirmed", 0)
    assert (rows["whiskers"].state, rows["whiskers"].model_version) == ("suggested", 1)
    assert set(rows) == {rejected, confirmed, "whiskers"}  # v0's unreviewed suggestions were replaced


def test_two_workers_on_one_backlog_tag_each_photo_exactly_once(
    tagging_worker: str, shared_fs: Path, alice: User, tmp_path: Path
) -> None:
    with celery_worker("tagging", env=env_for_test_database(shared_fs), log=tmp_path / "second.log"):
        photos = [
            upload_photo(owner=alice, data=image_bytes(color=(n, 255 - n, 60))) for n in range(0, 240, 10)
        ]

        wait_until(
            lambda: not Photo.objects.exclude(status="tagged").exists(), timeout=120, what="the backlog"
        )

        wait_until(
            lambda: sum(WorkerStatus.objects.values_list("photos_tagged", flat=True)) >= len(photos),
            what="both heartbeats",
        )
        assert sum(WorkerStatus.objects.values_list("photos_tagged", flat=True)) == len(photos)
        wait_until(lambda: WorkerStatus.objects.count() == 2, what="the second worker's heartbeat")


def test_concurrent_claims_never_hand_one_photo_to_two_workers(shared_fs: Path, alice: User) -> None:
    for n in range(30):
        Photo.objects.create(owner=alice, content_hash=f"{n:064x}", file_ext="jpg", mime_type="image/jpeg",
                             byte_size=1, width=1, height=1)  # fmt: skip
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def claim_all(worker: str) -> None:
        try:
            while batch := services.claim_batch(worker=worker, size=3, active_version=0):
                claimed[worker] += [p.pk for p in batch]
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(Photo.objects.values_list("pk", flat=True))


def test_photos_of_a_dead_worker_are_handed_on_by_the_sweep(
    tagging_worker: str, shared_fs: Path, alice: User
) -> None:
    photo = photo_nobody_can_claim(alice, image_bytes(color=(9, 99, 199)))
    tag_pending.delay()
    time.sleep(2)
    assert Photo.objects.get(pk=photo.pk).status == "pending"

    sweep.delay()

    wait_until(tagged(photo.pk), what="the sweep to hand the photo on")


def test_one_unreadable_photo_fails_alone_and_the_batch_goes_on(
    tagging_worker: str, shared_fs: Path, alice: User
) -> None:
    good = photo_nobody_can_claim(alice, image_bytes(color=(10, 20, 30)))
    bad = photo_nobody_can_claim(alice, image_bytes(color=(30, 20, 10)))
    volume.original_path(bad.content_hash, bad.file_ext).write_bytes(b"\xff\xd8 broken on disk")

    sweep.delay()

    wait_until(tagged(good.pk), what="the good photo")
    wait_until(lambda: Photo.objects.get(pk=bad.pk).status == "failed", what="the bad photo to fail")
    assert "could not be read" in Photo.objects.get(pk=bad.pk).status_reason


@pytest.mark.browser
def test_the_photo_page_shows_tagging_and_then_the_tags_without_a_reload(
    tagging_worker: str, shared_fs: Path, make_user: Callable[..., User], page: Page
) -> None:
    alice = make_user("alice")
    photo = photo_nobody_can_claim(alice, CAT)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("a-strong-pass-42")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/p/{photo.pk}/")
    expect(page.get_by_role("status")).to_contain_text("tagging")

    sweep.delay()

    expect(page.locator(".chip.model").first).to_be_visible(timeout=60_000)
    expect(page.get_by_role("status")).to_contain_text("Suggestions by model v0")
    shot(page, "photo-tagged")


SUBMIT_A_TAG_AS_SOON_AS_THE_TAGS_ARE_REDRAWN = """
name => document.body.addEventListener("htmx:afterSwap", () => {
    queueMicrotask(() => {  // after htmx's own swap work, before any timer
        const form = document.querySelector(".upload-item form.add-tag");
        form.querySelector("input[name=name]").value = name;
        form.requestSubmit();
    });
}, {once: true})"""


@pytest.mark.browser
def test_a_member_uploads_sees_tags_arrive_fixes_one_and_helps_the_model(
    tagging_worker: str, shared_fs: Path, make_user: Callable[..., User], page: Page
) -> None:
    make_user("alice")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("a-strong-pass-42")
    page.get_by_role("button", name="Log in").click()

    # Upload the cat; its tags arrive on the upload page itself, without a reload.
    page.goto("/upload/")
    drop_files(page, "#dropzone", [("cat.jpg", CAT)])
    item = page.locator(".upload-item").first
    expect(item).to_contain_text("Uploaded.")
    suggestions = item.locator(".chip.model.suggested")
    expect(suggestions.first).to_be_visible(timeout=60_000)
    wrong = suggestions.first.get_attribute("data-tag") or ""

    # Fix them right there: remove the first suggestion (the owner's remove keeps it rejected),
    # and add a tag of one's own the very moment
    # the tags are redrawn (the new form must already be htmx's, not submitted natively).
    page.evaluate(SUBMIT_A_TAG_AS_SOON_AS_THE_TAGS_ARE_REDRAWN, "pet")
    item.get_by_role("button", name=f"Remove {wrong}").click()
    expect(item.locator(f".chip[data-tag='{wrong}']")).to_have_class(re.compile(r"\brejected\b"))
    expect(item.locator(".chip[data-tag=pet]")).to_have_class("chip user confirmed")
    assert "name=pet" not in page.url  # no native submission reloaded the page

    # The same photo saved again at another quality is flagged as a near-duplicate, with a link.
    drop_files(page, "#dropzone", [("cat-again.jpg", recompressed(CAT))])
    again = page.locator(".upload-item").nth(1)
    expect(again.locator(".chip.model").first).to_be_visible(timeout=60_000)
    first_id = Photo.objects.order_by("id").values_list("pk", flat=True)[0]
    expect(again.locator(".near-duplicate")).to_contain_text(f"your photo #{first_id}")
    shot(page, "upload-tagged")

    # Help the model: one suggestion at a time, answered with the keyboard.
    page.goto("/help/")
    expect(page.locator("#contrib-count")).to_contain_text("2 contributions")
    question = page.locator(".help-card .help-question")
    expect(question).to_contain_text("Is this #")
    shot(page, "help")
    asked = page.locator(".help-card").get_attribute("data-item") or ""
    page.keyboard.press("y")
    expect(page.locator("#contrib-count")).to_contain_text("3 contributions")
    expect(page.locator(".answered-note")).to_contain_text("confirmed")
    expect(page.locator(".help-card")).not_to_have_attribute("data-item", asked)
    answered = PhotoTag.objects.get(pk=int(asked))
    assert (answered.source, answered.state) == ("model", "confirmed")
    page.goto("/help/?view=grid")
    expect(page.locator(".help.grid .help-card").first).to_be_visible()
    shot(page, "help-grid")


def recompressed(data: bytes) -> bytes:
    """The same picture written again by another program: other bytes, same content."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", quality=80)
    return out.getvalue()
