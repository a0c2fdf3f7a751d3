"""Albums in a real headless Chromium: an owner makes one and invites people; a contributor adds
a photo of theirs, a viewer sees it and downloads the ZIP, and a stranger sees nothing of it.

Screenshots land in ``test-artifacts/screenshots/`` (album-*.png)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from api.albums.models import Album
from api.photos.services import upload_photo
from tests.helpers.browser import log_in, shot
from tests.helpers.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()


def test_an_owner_shares_an_album_with_a_contributor_and_a_viewer_and_a_stranger_sees_none_of_it(
    page: Page, make_user: Callable[..., User]
) -> None:
    olga, cora = make_user("olga"), make_user("cora")
    make_user("vic"), make_user("sam")
    harbour = upload_photo(owner=olga, data=image_bytes(color=(20, 90, 200)), caption="harbour at dawn")
    upload_photo(owner=olga, data=image_bytes(color=(200, 9, 9)), caption="olga only", visibility="private")
    beach = upload_photo(owner=cora, data=image_bytes(color=(230, 200, 40)), caption="cora's beach")

    # The owner makes a private album from the header's Albums link.
    log_in(page, "olga")
    page.get_by_role("link", name="Albums", exact=True).click()
    page.get_by_text("New album").click()
    page.get_by_label("Title").fill("Summer")
    page.get_by_label("Description").fill("Our week by the sea")
    page.get_by_label("Visibility").select_option("private")
    page.get_by_role("button", name="Make the album").click()
    expect(page.get_by_role("heading", name="Summer")).to_be_visible()
    album = Album.objects.get(title="Summer")

    # Adds a photo from its own page, and makes it the cover.
    page.goto(f"/p/{harbour.pk}/")
    page.get_by_label("Add to album").select_option(label="Summer")
    page.locator("form.add-to-album").get_by_role("button", name="Add").click()
    expect(page.get_by_text("Added to the album “Summer”.")).to_be_visible()
    page.get_by_role("button", name=f"Make photo {harbour.pk} the cover").click()
    expect(page.locator("img.album-cover")).to_be_visible()

    # Invites a contributor and a viewer; a name nobody has is refused, saying why.
    page.get_by_text("Edit the album").click()
    page.get_by_label("Invite by username").fill("nobody")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("alert")).to_have_text("There is nobody called 'nobody' here.")
    expect(page.get_by_label("Invite by username")).to_have_value("nobody")
    page.get_by_label("Invite by username").fill("cora")
    page.locator('select[name="role"]').select_option("contributor")
    page.get_by_role("button", name="Invite").click()
    page.get_by_text("Edit the album").click()
    page.get_by_label("Invite by username").fill("vic")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("[data-member]")).to_have_count(2)
    expect(page.locator('[data-member="cora"]')).to_contain_text("contributor")
    log_out(page)

    # The contributor finds it shared with her and adds a photo of hers.
    log_in(page, "cora")
    page.get_by_role("link", name="Albums", exact=True).click()
    expect(page.locator(".album-card")).to_contain_text("you are a contributor")
    shot(page, "albums")
    page.get_by_role("link", name="Summer", exact=True).click()
    page.get_by_text("Add your photos").click()
    page.get_by_label("cora's beach").check()
    page.get_by_role("button", name="Add the chosen photos").click()
    expect(page.get_by_text("Added 1 photo.")).to_be_visible()
    expect(page.locator(".grid .card")).to_have_count(2)
    shot(page, "album-contributor")
    log_out(page)

    # The owner moves it first.
    log_in(page, "olga")
    page.goto(f"/a/{album.pk}/")
    page.get_by_role("button", name=f"Move photo {beach.pk} up").click()
    expect(page.locator(".grid .card").first).to_have_attribute("data-photo-id", str(beach.pk))
    shot(page, "album-owner")
    log_out(page)

    # The viewer sees both photos in that order, with no owner's tools, and downloads the ZIP.
    log_in(page, "vic")
    page.get_by_role("link", name="Albums", exact=True).click()
    page.get_by_role("link", name="Summer", exact=True).click()
    cards = page.locator(".grid .card")
    expect(cards).to_have_count(2)
    assert [cards.nth(i).get_attribute("data-photo-id") for i in range(2)] == [str(beach.pk), str(harbour.pk)]
    expect(page.get_by_text("Our week by the sea")).to_be_visible()
    expect(page.get_by_text("Edit the album")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Move photo"))).to_have_count(0)
    shot(page, "album")
    download = page.get_by_role("link", name="Download ZIP").get_attribute("href")
    answer = page.request.get(download or "")
    assert answer.status == 200 and answer.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(answer.body())).namelist()
    assert names == [f"0001-photo-{beach.pk}.jpg", f"0002-photo-{harbour.pk}.jpg"]
    log_out(page)

    # The stranger finds no trace of it: not listed, and its address answers 404.
    log_in(page, "sam")
    page.get_by_role("link", name="Albums", exact=True).click()
    expect(page.get_by_text("Nobody has invited you to an album yet.")).to_be_visible()
    expect(page.get_by_text("Summer")).to_have_count(0)
    response = page.goto(f"/a/{album.pk}/")
    assert response is not None and response.status == 404
    assert "Summer" not in page.content() and "harbour" not in page.content()
