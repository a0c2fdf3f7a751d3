"""Shared fixtures: a temporary shared_fs per test, users, an anonymous API client and the
browser; the plain helpers that tests import (tiny images, signed-in clients, uploads,
screenshots) are in tests/helpers/. Tests run against the real PostgreSQL and Redis named by
DATABASE_URL and REDIS_URL (``make test`` sets them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import TransactionTestCase
from playwright.sync_api import Browser, Page, sync_playwright
from rest_framework.test import APIClient

# Playwright's sync API keeps an event loop on the main thread; the ORM calls made by the tests
# themselves are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE


def lost_a_deadlock(error: BaseException | None) -> bool:
    while error is not None:
        if DEADLOCK_DETECTED in (getattr(error, "sqlstate", None), getattr(error, "pgcode", None)):
            return True
        error = error.__cause__
    return False


@pytest.fixture(autouse=True, scope="session")
def flush_outlasts_live_workers() -> Iterator[None]:
    """A transactional test's teardown TRUNCATEs every table while real workers may still be
    writing (re-tagging after a version change, say); PostgreSQL may then pick the TRUNCATE as a
    deadlock's victim. The worker's transaction ends either way, so the flush is tried again."""
    flush = getattr(TransactionTestCase, "_fixture_teardown")  # noqa: B009 (private: not in the stubs)

    def flush_again_after_a_deadlock(test_case: TransactionTestCase) -> None:
        for attempt in range(3):
            try:
                return flush(test_case)
            except Exception as error:
                if attempt == 2 or not lost_a_deadlock(error):
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", flush_again_after_a_deadlock)
        yield


@pytest.fixture(autouse=True)
def shared_fs(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "shared_fs"
    root.mkdir()
    settings.SHARED_FS = root
    return root


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # The real hasher is slow by design; the tests create many accounts.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_throttles() -> Iterator[None]:
    # Throttle counters live in the cache; one test's uploads must not throttle the next.
    cache.clear()
    yield


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = {"n": 0}

    def make(username: str | None = None, *, staff: bool = False, password: str = "a-strong-pass-42") -> User:
        counter["n"] += 1
        user = User.objects.create_user(
            username=username or f"person{counter['n']}", password=password, is_staff=staff
        )
        return user

    return make


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


# ---------------------------------------------------------------- the browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
