"""The e-mail digest: people with an e-mail address get their unread notifications in one mail,
each notification in one digest only, and a mail that could not go is sent by the next run."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command

from api.notifications.digest import send_digests
from api.notifications.models import Digest
from api.notifications.services import mark_read
from api.photos.services import upload_photo
from api.social.services import add_comment, favourite, follow
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_mailed(alice: User) -> User:
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    return alice


def test_a_digest_lists_the_unread_notifications_once_and_the_next_only_what_is_new(
    alice_mailed: User, bob: User
) -> None:
    pic = upload_photo(owner=alice_mailed, data=image_bytes())
    add_comment(author=bob, photo=pic, text="Lovely <b>light</b>")
    favourite(user=bob, photo=pic)

    first, again = send_digests(), send_digests()
    follow(follower=bob, username="alice")
    third = send_digests()

    assert (first, again, third) == (1, 0, 1)
    assert [m.to for m in mail.outbox] == [["alice@example.org"], ["alice@example.org"]]
    assert mail.outbox[0].subject == "Tagloop: 2 new notifications"
    assert "- bob commented on your photo: Lovely <b>light</b>" in mail.outbox[0].body
    assert "- bob added your photo to their favourites" in mail.outbox[0].body
    assert mail.outbox[1].subject == "Tagloop: 1 new notification"
    assert "started following you" in mail.outbox[1].body and "commented" not in mail.outbox[1].body
    assert Digest.objects.get(recipient=alice_mailed).sent_at is not None


def test_read_notifications_and_people_without_an_e_mail_address_get_no_digest(
    alice_mailed: User, bob: User, carol: User
) -> None:
    follow(follower=bob, username="alice")
    mark_read(recipient=alice_mailed)
    follow(follower=alice_mailed, username="carol")  # carol has no address

    assert send_digests() == 0
    assert mail.outbox == []


def test_a_mail_server_that_refuses_leaves_the_notifications_for_the_next_run(
    alice_mailed: User, bob: User, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    follow(follower=bob, username="alice")

    def refuse(*args: object, **kwargs: object) -> int:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("api.notifications.digest.send_mail", refuse)
    assert send_digests() == 0
    assert Digest.objects.filter(recipient=alice_mailed, last_notification_id__gt=0).count() == 0
    monkeypatch.undo()
    call_command("send_digests")

    assert "Sent 1 digest." in capsys.readouterr().out
    assert len(mail.outbox) == 1 and "started following you" in mail.outbox[0].body
