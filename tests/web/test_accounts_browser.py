"""The account stories in a real headless Chromium: a forgotten password reset through the
e-mail the console backend prints, and an account deleted from its page, leaving nothing.

Screenshots: ``test-artifacts/screenshots/password-reset.png`` and ``delete-account.png``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from api.photos.models import Photo
from tests.helpers.accounts import MARK, files_of, live_a_full_life, traces
from tests.helpers.browser import log_in, shot
from tests.helpers.clients import stored_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_forgotten_password_is_reset_through_the_e_mail_and_the_new_one_logs_in(
    page: Page, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The site's default, which pytest-django swaps for its outbox: the live server runs in this
    # process, so what the console backend prints is this test's captured output.
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    User.objects.create_user("ines", "ines@example.org", "the-old-pass-42")

    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("Ines@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    printed = capsys.readouterr().out
    assert "To: ines@example.org" in printed and "Subject: Your Tagloop password" in printed
    link = re.search(r"(http://\S+/accounts/reset/\S+/)", printed)
    assert link, printed
    page.goto(link.group(1))
    page.get_by_label("New password", exact=True).fill("a-brand-new-pass-77")
    page.get_by_label("New password confirmation").fill("a-brand-new-pass-77")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()
    shot(page, "password-reset")

    log_in(page, "ines", "a-brand-new-pass-77")
    page.goto(link.group(1))
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()


def test_an_account_deleted_from_its_page_leaves_nothing_behind(
    page: Page, make_user: Any, shared_fs: Any
) -> None:
    zed = make_user(f"{MARK}-zed")
    life = live_a_full_life(zed, make_user("bob"), make_user("carol"), make_user("staff", staff=True))
    # By hand: the feed shows Zed's photos, whose "@zedmark-zed" links log_in's check also finds.
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(zed.username)
    page.get_by_label("Password").fill("a-strong-pass-42")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=zed.username, exact=True)).to_be_visible()

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("link", name="Download my photos and data (ZIP)")).to_be_visible()
    shot(page, "account")
    page.get_by_role("link", name="Delete my account").click()
    expect(page.get_by_text("It cannot be undone.")).to_be_visible()
    page.get_by_label("Your password").fill("not-my-password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("The password is wrong.")).to_be_visible()
    page.get_by_label("Your password").fill("a-strong-pass-42")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text(f"The account {zed.username} and everything in it were deleted.")).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    shot(page, "delete-account")

    assert traces(life) == []
    assert [path for path in life.own_files if path.exists()] == []
    assert stored_files(shared_fs) == sorted(
        path for photo in Photo.objects.all() for path in files_of(photo)
    )
    page.goto(f"/u/{zed.username}/")
    expect(page.get_by_text("bob's beach")).to_have_count(0)
