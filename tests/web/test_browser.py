"""The website in a real headless Chromium: the stories a person lives through.

Screenshots of the main pages land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.browser import drop_files, log_in, shot
from tests.helpers.images import image_bytes
from tests.helpers.tags import model_suggests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def image_loaded(page: Page, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"))


def photo_of(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    return image_bytes("JPEG", size, color, quality=90)


def test_a_new_member_uploads_tags_and_finds_photos(page: Page) -> None:
    # Sign up.
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password", exact=True).fill("sea-otters-42")
    page.get_by_label("Password confirmation").fill("sea-otters-42")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Welcome to Tagloop, dora!")).to_be_visible()

    # Upload two photos by drag-and-drop, and one file that is not a photo.
    page.get_by_role("link", name="Upload", exact=True).click()  # not the intro's "Upload your first photos"
    drop_files(
        page,
        "#dropzone",
        [
            ("red.jpg", photo_of((640, 480), (200, 30, 30))),
            ("blue.jpg", photo_of((480, 640), (30, 30, 200))),
            ("notes.jpg", b"this is not a photo"),
        ],
    )
    items = page.locator(".upload-item")
    expect(items).to_have_count(3)
    expect(items.filter(has_text="red.jpg")).to_contain_text("Uploaded.")
    expect(items.filter(has_text="blue.jpg")).to_contain_text("Uploaded.")
    expect(items.filter(has_text="notes.jpg")).to_contain_text("not an image we can read")
    assert page.eval_on_selector_all("progress", "bars => bars.map(b => b.value)") == [100, 100, 100]
    # Each photo that is in shows its thumbnail at once, and its tag chips below it; the file
    # that was refused has no photo to show.
    for name in ("red.jpg", "blue.jpg"):
        row = items.filter(has_text=name)
        expect(row.locator(".thumb img")).to_have_count(1)
        expect(row.locator(".upload-tags .tags")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, ".upload-item:nth-child(1) .thumb img")
    assert image_loaded(page, ".upload-item:nth-child(2) .thumb img")
    expect(items.filter(has_text="notes.jpg").locator(".thumb img")).to_have_count(0)
    shot(page, "upload")

    # Both appear in the feed with their thumbnails.
    page.goto("/")
    cards = page.locator(".grid .card")
    expect(cards).to_have_count(2)
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, ".grid .card:nth-child(1) img") and image_loaded(
        page, ".grid .card:nth-child(2) img"
    )
    shot(page, "feed")

    # A click opens the lightbox; the arrow keys move through the feed, Escape closes it.
    first_id, second_id = (
        cards.nth(0).get_attribute("data-photo-id"),
        cards.nth(1).get_attribute("data-photo-id"),
    )
    cards.first.locator("a").first.click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    expect(viewer).to_be_visible()
    expect(viewer).to_have_attribute("data-photo-id", first_id or "")
    page.keyboard.press("ArrowRight")
    expect(viewer).to_have_attribute("data-photo-id", second_id or "")
    expect(viewer.locator("img")).to_have_attribute("src", f"/files/photos/{second_id}/display")
    page.wait_for_function("document.querySelector('.lightbox img').complete")
    shot(page, "lightbox")
    page.keyboard.press("ArrowLeft")
    expect(viewer).to_have_attribute("data-photo-id", first_id or "")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # Add a tag, then remove it, then add the one we keep.
    cards.first.locator("a").first.click()
    viewer.get_by_role("link", name="Open photo page").click()
    add = page.get_by_placeholder("Add a tag")
    add.fill("Sunset")
    page.get_by_role("button", name="Add", exact=True).click()
    chip = page.locator(".chip[data-tag=sunset]")
    expect(chip).to_be_visible()
    expect(chip).to_have_class("chip user confirmed")
    chip.get_by_role("button", name="Remove sunset").click()
    expect(page.locator(".chip[data-tag=sunset]")).to_have_count(0)
    page.get_by_placeholder("Add a tag").fill("beach")
    page.get_by_placeholder("Add a tag").press("Enter")
    expect(page.locator(".chip[data-tag=beach]")).to_be_visible()
    page.get_by_placeholder("Add a tag").fill("no way!")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("may contain only letters")
    assert image_loaded(page, "#photo-image")
    shot(page, "photo")

    # The autocomplete offers the tag on the other photo.
    page.goto("/")
    page.goto(f"/p/{second_id}/")
    page.get_by_placeholder("Add a tag").press_sequentially("bea", delay=50)
    expect(page.locator(".add-tag datalist option[value=beach]")).to_have_count(1)

    # Search by tag finds exactly the tagged photo.
    page.get_by_label("Search tags and captions").fill("#beach")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".grid .card")).to_have_count(1)
    shot(page, "search")

    # On a phone-sized screen every page fits its width: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, url in [
        ("feed", "/"),
        ("photo", f"/p/{first_id}/"),
        ("upload", "/upload/"),
        ("help", "/help/"),
    ]:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        shot(page, f"{name}-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{url} is wider than a phone"


def test_private_photos_stay_private_and_unlisted_ones_open_by_link_only(
    page: Page, make_user: Any, shared_fs: Path
) -> None:
    alice: User = make_user("alice")
    make_user("bob")
    private = upload_photo(owner=alice, data=photo_of((300, 200), (10, 200, 10)), visibility="private")
    unlisted = upload_photo(owner=alice, data=photo_of((300, 200), (200, 200, 10)), visibility="unlisted")
    public = upload_photo(owner=alice, data=photo_of((300, 200), (10, 10, 10)), caption="for all")

    log_in(page, "bob")
    page.goto("/")
    expect(page.locator(".grid .card")).to_have_count(1)
    expect(page.locator(f".card[data-photo-id='{public.pk}']")).to_be_visible()

    for photo in (private, unlisted):
        for url in (
            f"/p/{photo.pk}/",
            f"/files/photos/{photo.pk}/grid",
            f"/files/photos/{photo.pk}/original",
        ):
            response = page.goto(url)
            assert response is not None and response.status == 404, url

    token = Photo.objects.get(pk=unlisted.pk).share_token
    response = page.goto(f"/s/{token}/")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, "#photo-image")
    shot(page, "shared-photo")
    response = page.goto(f"/s/{token[:-2]}xx/")
    assert response is not None and response.status == 404


def test_a_tag_page_shows_the_confirmed_photo_first_and_marks_the_models_guess(
    page: Page, make_user: Any
) -> None:
    alice: User = make_user("alice")
    dress = upload_photo(owner=alice, data=photo_of((300, 400), (180, 20, 90)), tag_names=["dress"])
    pants = upload_photo(owner=alice, data=photo_of((300, 400), (20, 40, 160)), caption="jeans")
    Photo.objects.filter(pk__in=[dress.pk, pants.pk]).update(status="tagged", model_version=1)
    model_suggests(pants, "dress", 0.74)

    page.goto("/t/dress/")
    cards = page.locator(".grid .card")
    expect(cards).to_have_count(2)
    # The older photo comes first: people vouched for it.
    expect(cards.nth(0)).to_have_attribute("data-photo-id", str(dress.pk))
    expect(cards.nth(0).locator(".badge.vouched")).to_have_text("✓ confirmed")
    expect(cards.nth(1).get_by_text("suggested 74%")).to_be_visible()
    page.wait_for_load_state("networkidle")
    shot(page, "tag-page")

    page.get_by_role("link", name="Only photos people confirmed").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-photo-id", str(dress.pk))
    expect(page.get_by_text("suggested 74%")).to_have_count(0)

    page.get_by_role("link", name="Include suggestions").click()
    expect(cards).to_have_count(2)
