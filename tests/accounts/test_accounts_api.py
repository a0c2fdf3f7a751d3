"""Signing up, tokens, password changes and log-in throttling through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.throttling import ScopedRateThrottle

from tests.helpers.clients import client_for

pytestmark = pytest.mark.django_db


def test_signing_up_returns_a_token_that_works(anonymous: Any) -> None:
    response = anonymous.post("/api/auth/register/", {"username": "dora", "password": "sea-otters-42"})

    assert response.status_code == 201
    token = response.json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert (
        anonymous.post("/api/photos/", {}, format="multipart").status_code == 400
    )  # signed in: now a form error


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"username": "alice", "password": "sea-otters-42"}, "This username is taken."),
        ({"username": "ALICE", "password": "sea-otters-42"}, "This username is taken."),
        ({"username": "dora", "password": "123"}, "too short"),
        ({"username": "dora", "password": "password"}, "too common"),
        ({"username": "no spaces", "password": "sea-otters-42"}, "username: Use letters"),
        ({"username": "dora"}, "password: This field is required."),
    ],
)
def test_a_bad_sign_up_says_what_is_wrong(
    alice: User, anonymous: Any, body: dict[str, str], message: str
) -> None:
    response = anonymous.post("/api/auth/register/", body)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert User.objects.count() == 1


def test_a_username_and_password_buy_a_token(alice: User, anonymous: Any) -> None:
    good = anonymous.post("/api/auth/token/", {"username": "alice", "password": "a-strong-pass-42"})
    bad = anonymous.post("/api/auth/token/", {"username": "alice", "password": "nope"})

    assert good.status_code == 200 and len(good.json()["token"]) == 40
    assert bad.status_code == 400 and bad.json()["detail"] == "Wrong username or password."


def test_changing_the_password_needs_the_old_one(alice: User) -> None:
    client = client_for(alice)

    wrong = client.post("/api/auth/password/", {"old_password": "x", "new_password": "fresh-pass-77"})
    right = client.post(
        "/api/auth/password/", {"old_password": "a-strong-pass-42", "new_password": "fresh-pass-77"}
    )

    assert wrong.status_code == 400 and "current password is wrong" in wrong.json()["detail"]
    assert right.status_code == 204
    alice.refresh_from_db()
    assert alice.check_password("fresh-pass-77")


def test_log_in_attempts_are_throttled(alice: User, anonymous: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "3/min")

    answers = [
        anonymous.post("/api/auth/token/", {"username": "alice", "password": "guess"}).status_code
        for _ in range(4)
    ]

    assert answers == [400, 400, 400, 429]


def test_sign_ups_are_throttled_with_log_ins(anonymous: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "2/min")

    answers = [
        anonymous.post(
            "/api/auth/register/", {"username": f"new{n}", "password": "sea-otters-42"}
        ).status_code
        for n in range(3)
    ]

    assert answers == [201, 201, 429]
    assert User.objects.filter(username__startswith="new").count() == 2


def test_uploads_are_throttled(alice: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "uploads", "2/min")
    client = client_for(alice)

    answers = [client.post("/api/photos/", {}, format="multipart").status_code for _ in range(3)]

    assert answers == [400, 400, 429]
    assert "Request was throttled" in client.post("/api/photos/", {}, format="multipart").json()["detail"]


class TestTheAdminAccountMadeAtStart:
    def test_it_is_created_as_staff_with_the_password_given(
        self, db: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ADMIN_USERNAME", "admin")
        monkeypatch.setenv("ADMIN_PASSWORD", "first-pass-91")

        call_command("ensure_admin", "-v", "0")

        admin = User.objects.get(username="admin")
        assert admin.is_staff and admin.is_superuser and admin.check_password("first-pass-91")

    def test_a_password_set_by_the_operator_wins_at_every_start(
        self, db: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ADMIN_USERNAME", "admin")
        monkeypatch.setenv("ADMIN_PASSWORD", "first-pass-91")
        call_command("ensure_admin", "-v", "0")
        monkeypatch.setenv("ADMIN_PASSWORD", "second-pass-92")

        call_command("ensure_admin", "-v", "0")

        assert User.objects.get(username="admin").check_password("second-pass-92")

    def test_with_keep_password_one_changed_on_the_site_survives_a_restart(
        self, db: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ADMIN_USERNAME", "admin")
        monkeypatch.setenv("ADMIN_PASSWORD", "generated-pass-93")
        call_command("ensure_admin", "--keep-password", "-v", "0")
        admin = User.objects.get(username="admin")
        admin.set_password("changed-on-site-94")
        admin.save()

        call_command("ensure_admin", "--keep-password", "-v", "0")

        assert User.objects.get(username="admin").check_password("changed-on-site-94")
