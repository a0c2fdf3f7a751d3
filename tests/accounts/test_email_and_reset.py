"""An optional e-mail address (at sign-up, set and changed later), and resetting a forgotten
password by e-mail: the link works once, and no answer tells whether an address is known."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from tests.helpers.clients import client_for

pytestmark = pytest.mark.django_db


def reset_link(message: Any) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/reset/[^\s]+/)", message.body)
    assert found, message.body
    return found.group(1)


def test_an_e_mail_given_at_sign_up_is_kept_and_one_not_given_is_fine(anonymous: Any) -> None:
    with_one = anonymous.post(
        "/api/auth/register/", {"username": "dora", "password": "sea-otters-42", "email": "Dora@Example.ORG"}
    )
    without = Client().post(
        "/accounts/signup/", {"username": "emil", "password1": "sea-otters-42", "password2": "sea-otters-42"}
    )

    assert with_one.status_code == 201 and without.status_code == 302
    assert User.objects.get(username="dora").email == "Dora@example.org"  # the domain has no case
    assert User.objects.get(username="emil").email == ""


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("ALICE@example.org", "This e-mail address belongs to another account."),
        ("not an address", "is not an e-mail address"),
    ],
)
def test_an_e_mail_that_cannot_be_used_is_refused_at_sign_up_on_both_doors(
    make_user: Any, anonymous: Any, email: str, message: str
) -> None:
    User.objects.create_user("alice", "alice@example.org", "a-strong-pass-42")

    api = anonymous.post(
        "/api/auth/register/", {"username": "dora", "password": "sea-otters-42", "email": email}
    )
    site = Client().post(
        "/accounts/signup/",
        {"username": "dora", "email": email, "password1": "sea-otters-42", "password2": "sea-otters-42"},
    )

    assert api.status_code == 400 and message in api.json()["detail"]
    assert site.status_code == 200 and message in site.content.decode()
    assert not User.objects.filter(username="dora").exists()


def test_the_api_sets_changes_and_removes_ones_e_mail(alice: User, bob: User) -> None:
    bob.email = "bob@example.org"
    bob.save()
    client = client_for(alice)

    assert client.get("/api/account/").json()["email"] == ""
    assert client.patch("/api/account/", {"email": " alice@example.org "}, format="json").json()["email"] == (
        "alice@example.org"
    )
    taken = client.patch("/api/account/", {"email": "BOB@example.org"}, format="json")
    unknown = client.patch("/api/account/", {"username": "root"}, format="json")
    removed = client.patch("/api/account/", {"email": ""}, format="json")

    assert (taken.status_code, taken.json()["detail"]) == (
        400,
        "This e-mail address belongs to another account.",
    )
    assert unknown.status_code == 400 and "Unknown field: username" in unknown.json()["detail"]
    assert removed.status_code == 200 and removed.json()["email"] == ""
    assert User.objects.get(pk=alice.pk).username == "alice"


def test_the_account_page_sets_the_e_mail_and_says_what_is_wrong(alice: User, bob: User) -> None:
    bob.email = "bob@example.org"
    bob.save()
    browser = Client()
    browser.force_login(alice)

    saved = browser.post("/accounts/", {"email": "alice@example.org"}, follow=True)
    taken = browser.post("/accounts/", {"email": "Bob@Example.org"})

    assert b"Your e-mail address was saved." in saved.content
    assert taken.status_code == 400 and b"belongs to another account" in taken.content
    assert User.objects.get(pk=alice.pk).email == "alice@example.org"


def test_a_reset_link_from_the_e_mail_sets_a_new_password_once(alice: User) -> None:
    alice.email = "alice@example.org"
    alice.save()
    browser = Client()

    sent = browser.post("/accounts/password/reset/", {"email": "ALICE@example.org"})

    assert sent.status_code == 302 and sent["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert mail.outbox[0].subject == "Your Tagloop password"
    form = browser.get(reset_link(mail.outbox[0]), follow=True)
    assert b"Choose a new password" in form.content
    done = browser.post(
        form.redirect_chain[-1][0], {"new_password1": "fresh-pass-77", "new_password2": "fresh-pass-77"}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert User.objects.get(pk=alice.pk).check_password("fresh-pass-77")
    again = Client().get(reset_link(mail.outbox[0]), follow=True)
    assert b"This link does not work" in again.content


def test_a_reset_says_the_same_for_an_unknown_address_and_sends_nothing(alice: User) -> None:
    alice.email = "alice@example.org"
    alice.save()

    known = Client().post("/accounts/password/reset/", {"email": "alice@example.org"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})
    api_known = client_for(None).post("/api/auth/password-reset/", {"email": "alice@example.org"})
    api_unknown = client_for(None).post("/api/auth/password-reset/", {"email": "nobody@example.org"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert api_known.status_code == api_unknown.status_code == 202
    assert api_known.content == api_unknown.content
    # One link per account every few minutes, however many times it is asked for.
    assert [message.to for message in mail.outbox] == [["alice@example.org"]]


def test_asking_for_resets_again_and_again_is_throttled_like_logging_in(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "2/min")
    browser = Client()

    answers = [browser.post("/accounts/password/reset/", {"email": f"x{n}@example.org"}) for n in range(3)]
    api = [client_for(None).post("/api/auth/password-reset/", {"email": "x@example.org"}) for _ in range(3)]

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Too many attempts" in answers[-1].content.decode()
    assert api[-1].status_code == 429


def test_the_log_in_page_links_to_the_reset(anonymous: Any) -> None:
    page = Client().get("/accounts/login/")

    assert b'href="/accounts/password/reset/"' in page.content
