"""The staff story in a real headless Chromium against a real Celery trainer: retrain from the
dashboard, watch the run to its end, see the new version active, roll back after confirming.

Screenshots (desktop and phone width) land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, ViewportSize, expect

from api.celery import app
from api.photos.models import Photo
from api.tags.services import add_tag
from api.training.models import TrainingRun
from tests.helpers.browser import log_in, shot
from tests.helpers.training import bare_photo, separable_photos
from tests.helpers.workers import celery_worker, env_for_test_database, module_fs, shared_fs
from trainer import bundle

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def trainer(
    module_fs: Path, tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[None]:
    app.control.purge()
    env = env_for_test_database(module_fs, MIN_PHOTOS_PER_TAG="4", TRAIN_MAX_EPOCHS="80")
    with celery_worker("training", env=env, log=tmp_path_factory.mktemp("logs") / "trainer.log"):
        yield


def test_staff_retrain_watch_the_run_finish_see_the_new_version_and_roll_back(
    trainer: None, page: Page, shared_fs: Path, alice: User, make_user: Any, settings: Any
) -> None:
    settings.MIN_PHOTOS_PER_TAG = 4  # as the trainer has it
    make_user("boss", staff=True)
    photos = separable_photos(alice, per_kind=12)  # 36 photos, 3 tags, each tagged by its owner
    for photo in photos[:3]:
        add_tag(photo=photo, user=alice, name="sunset")  # one short of the vocabulary
    broken = bare_photo(alice, 900)
    Photo.objects.filter(pk=broken.pk).update(
        status="failed", status_reason="Truncated file: the image ends early"
    )
    log_in(page, "boss")

    # Before: version 0 (the ImageNet classifier) is active and not measured per tag.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#model")).to_contain_text("Version 0")
    expect(page.locator("#quality")).to_contain_text("Not measured")
    expect(page.locator("#vocabulary")).to_contain_text("3 tags have at least 4 vouched-for photos")
    expect(page.locator("#vocabulary .close-tags")).to_contain_text("#sunset 3 of 4, 1 to go")

    # Retrain now: the run panel follows the run until the bar is full.
    page.get_by_role("button", name="Retrain now").click()
    expect(page.locator(".messages")).to_contain_text("is queued")
    run_panel = page.locator("#run")
    expect(run_panel.locator(".badge")).to_have_text("Succeeded", timeout=120_000)
    expect(run_panel.locator("progress")).to_have_js_property("value", 1)
    expect(run_panel).to_contain_text("100%")
    expect(run_panel.locator("svg.chart")).to_have_count(2)
    run = TrainingRun.objects.get()
    assert (run.status, run.model_version, run.trigger) == ("succeeded", 1, "dashboard")

    # The page reloaded itself when the run ended: version 1 is active and measured per tag.
    expect(page.locator("#model")).to_contain_text("Version 1")
    expect(page.locator("#versions tr.status-active")).to_contain_text("v1")
    expect(page.locator("#quality table tbody tr")).to_have_count(3)
    page.locator("#quality").get_by_role("link", name="Support").click()
    expect(page.locator("#quality th[aria-sort=descending]")).to_have_text("Support ▼", use_inner_text=True)
    page.wait_for_load_state("networkidle")
    shot(page, "staff-dashboard")
    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator("#model")).to_contain_text("Version 1")
    shot(page, "staff-dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing scrolls sideways
    page.set_viewport_size(DESKTOP)

    # A failed photo goes back to the queue with one click.
    page.get_by_role("button", name=f"Retry photo {broken.pk}").click()
    expect(page.locator(".messages")).to_contain_text("1 photo went back to the tagging queue.")
    assert Photo.objects.get(pk=broken.pk).status == "pending"

    # Roll back to version 0, after a confirmation that says what changes.
    page.locator("#versions tr", has_text="v0").get_by_role("link", name="Roll back").click()
    expect(page.get_by_role("heading", name="Roll back to version 0?")).to_be_visible()
    assert bundle.current_version(shared_fs / "models") == 1  # asking changed nothing
    shot(page, "staff-rollback-confirm")
    page.get_by_role("button", name="Yes, roll back to v0").click()
    expect(page.locator(".messages")).to_contain_text("Version 0 is active")
    expect(page.locator("#model")).to_contain_text("Version 0")
    expect(page.locator("#versions tr", has_text="v1")).to_contain_text("Retired")
    assert bundle.current_version(shared_fs / "models") == 0


def test_the_run_panel_follows_a_run_live_and_the_page_reloads_when_it_ends(
    page: Page, shared_fs: Path, make_user: Any
) -> None:
    make_user("boss", staff=True)

    def curves(epochs: int) -> list[dict[str, float]]:
        return [{"epoch": e, "loss": round(0.7 * 0.93**e + 0.05, 4), "map": round(0.9 - 0.5 * 0.9**e, 4),
                 "macro_f1": round(0.85 - 0.5 * 0.9**e, 4)} for e in range(1, epochs + 1)]  # fmt: skip

    run = TrainingRun.objects.create(
        trigger="dashboard", status="running", phase="training", epoch=10, total_epochs=60,
        progress=0.1 + 0.8 * 10 / 60, curves=curves(10),
    )  # fmt: skip
    log_in(page, "boss")
    page.goto("/staff/")
    panel = page.locator("#run")
    expect(panel).to_contain_text("epoch 10 of 60")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    # The trainer writes progress to the row; the panel shows it without a reload.
    TrainingRun.objects.filter(pk=run.pk).update(epoch=40, progress=0.1 + 0.8 * 40 / 60, curves=curves(40))
    expect(panel).to_contain_text("epoch 40 of 60 · 63%")
    expect(panel.locator("polyline").first).to_have_attribute("points", re.compile(r"^(\S+ ){39}\S+$"))
    assert page.evaluate("window.sameDocument") is True
    shot(page, "staff-training-live")

    # The run ends: the page reloads itself to show the outcome everywhere.
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", phase="done", progress=1.0)
    expect(panel.locator(".badge")).to_have_text("Succeeded")
    expect(panel.locator("progress")).to_have_js_property("value", 1)
    page.wait_for_function("window.sameDocument === undefined")
