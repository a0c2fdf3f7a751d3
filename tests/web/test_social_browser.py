"""People and conversation in a real headless Chromium: one person follows another, favourites and
comments on their photo; the owner sees it in the header's badge and on the notifications page.

Screenshots for the README: ``photo-comments``, ``notifications`` and ``profile``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.browser import log_in, shot
from tests.helpers.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def second_person(browser: Browser, live_server: Any, username: str) -> Page:
    """Another browser, signed in as someone whose own photos are in the feed (the helper's check
    for a link with their name would find each card's "@name" too)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("a-strong-pass-42")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return page


def test_a_follower_favourites_and_comments_and_the_owner_hears_of_it(
    page: Page, browser: Browser, live_server: Any, make_user: Any
) -> None:
    alice: User = make_user("alice")
    make_user("bob")
    lake = upload_photo(
        owner=alice,
        data=image_bytes("JPEG", (640, 420), (40, 110, 170), quality=90),
        caption="Sunday at the #lake",
    )
    Photo.objects.filter(pk=lake.pk).update(status="tagged", model_version=0)

    # Bob follows Alice from her profile.
    log_in(page, "bob")
    page.goto("/u/alice/")
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    expect(page.locator("#person .followers")).to_have_text("1")

    # He favourites her photo and comments on it; an empty comment is refused in words.
    page.locator(f".card[data-photo-id='{lake.pk}'] a").first.click()
    page.get_by_role("link", name="Open photo page").click()
    expect(page.get_by_role("link", name="#lake", exact=True)).to_have_attribute("href", "/t/lake/")
    page.get_by_role("button", name="Add to favourites").click()
    expect(page.locator(".favourite-count")).to_have_text("1 favourite")
    expect(page.get_by_role("button", name="♥ Favourite")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Write a comment").fill("   ")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#comments").get_by_role("alert")).to_have_text("A comment needs some text.")
    page.get_by_label("Write a comment").fill("Gorgeous light #golden")
    page.get_by_role("button", name="Comment", exact=True).click()
    comment = page.locator(".comment").first
    expect(comment).to_contain_text("@bob")
    expect(comment.get_by_role("link", name="#golden")).to_have_attribute("href", "/t/golden/")
    expect(page.locator("#comments").get_by_role("alert")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    shot(page, "photo-comments")

    # Her photo is in his following feed and his favourites.
    page.get_by_role("link", name="Following", exact=True).click()
    expect(page.locator(f".grid .card[data-photo-id='{lake.pk}']")).to_be_visible()
    page.get_by_role("link", name="Favourites", exact=True).click()
    expect(page.locator(f".grid .card[data-photo-id='{lake.pk}']")).to_be_visible()

    # Alice sees three unread notifications in the header, and what happened on the page.
    owner = second_person(browser, live_server, "alice")
    badge = owner.locator("#unread-count")
    expect(badge).to_have_text("3")
    owner.get_by_role("link", name="Notifications").click()
    items = owner.locator(".notification")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("@bob commented on your photo")
    expect(items.nth(0)).to_contain_text("Gorgeous light #golden")
    expect(items.nth(1)).to_contain_text("added your photo to their favourites")
    expect(items.nth(2)).to_contain_text("started following you")
    shot(owner, "notifications")
    owner.get_by_role("button", name="Mark all read").click()
    expect(owner.get_by_text("Marked 3 notifications read.")).to_be_visible()
    expect(badge).to_have_count(0)

    # The comment's link leads to it on her photo, and as the owner she may delete it.
    owner.get_by_role("link", name="commented on your photo").click()
    expect(owner.locator(".comment").first).to_contain_text("Gorgeous light")
    owner.once("dialog", lambda dialog: dialog.accept())
    owner.get_by_role("button", name="Delete the comment by bob").click()
    expect(owner.locator(".comment")).to_have_count(0)

    # She writes a bio and makes the photo her avatar.
    owner.goto("/u/alice/")
    owner.get_by_role("link", name="Edit profile").click()
    owner.get_by_label("Bio").fill("I photograph water. #lake")
    owner.locator(f"input[name=avatar][value='{lake.pk}']").check()
    owner.get_by_role("button", name="Save").click()
    expect(owner.get_by_text("Your profile is saved.")).to_be_visible()
    expect(owner.locator("#person .bio")).to_have_text("I photograph water. #lake")
    expect(owner.locator("#person img.avatar")).to_have_attribute("src", f"/files/photos/{lake.pk}/grid")
    owner.wait_for_load_state("networkidle")
    shot(owner, "profile")
    owner.context.close()
