"""Notifications: people hear when someone comments on, favourites, tags or votes on their photo,
shares an album with them or follows them; never about their own doing, never someone else's."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from api.albums.services import create_album, invite
from api.notifications.models import Notification
from api.photos.services import upload_photo
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def test_what_others_do_to_my_photos_and_me_arrives_as_notifications_in_words(alice: User, bob: User) -> None:
    pic = upload_photo(owner=alice, data=image_bytes(color=(1, 2, 3)), tag_names=["sunset"])
    api = client_for(bob)
    api.post(f"/api/photos/{pic.pk}/comments/", {"body": "What a sky"}, format="json")
    api.post(f"/api/photos/{pic.pk}/favourite/")
    api.post(f"/api/photos/{pic.pk}/tags/", {"name": "beach"}, format="json")
    api.post(f"/api/photos/{pic.pk}/tags/sunset/confirm/")
    api.post("/api/users/alice/follow/")
    invite(user=bob, album=create_album(owner=bob, title="Our trip"), username="alice", role="contributor")

    mine = client_for(alice).get("/api/notifications/").json()["results"]

    assert [n["kind"] for n in mine] == ["album", "follower", "vote", "tag", "favourite", "comment"]
    assert {n["actor"] for n in mine} == {"bob"}
    assert mine[-1]["text"] == "bob commented on your photo" and mine[-1]["detail"] == "What a sky"
    assert mine[3]["detail"] == "beach" and mine[0]["detail"] == "Our trip" and mine[-1]["photo"] == pic.pk
    assert client_for(bob).get("/api/notifications/").json()["results"] == []  # none about his own doing


def test_notifications_are_marked_read_some_or_all_and_a_repeated_favourite_tells_no_one_twice(
    alice: User, bob: User, make_user: Any
) -> None:
    pic = upload_photo(owner=alice, data=image_bytes(color=(4, 5, 6)))
    api = client_for(bob)
    for _ in range(2):
        api.post(f"/api/photos/{pic.pk}/favourite/")
        api.delete(f"/api/photos/{pic.pk}/favourite/")
    client_for(make_user("carol")).post("/api/users/alice/follow/")
    me = client_for(alice)
    assert Notification.objects.filter(recipient=alice).count() == 2

    first = me.get("/api/notifications/?unread=1").json()["results"][0]["id"]
    some = me.post("/api/notifications/read/", {"ids": [first]}, format="json").json()
    strangers = client_for(bob).post("/api/notifications/read/", {}, format="json").json()
    everything = me.post("/api/notifications/read/", {}, format="json").json()

    assert some == {"unread": 1} and strangers == {"unread": 0} and everything == {"unread": 0}
    assert me.get("/api/notifications/?unread=1").json()["results"] == []
    assert client_for(None).get("/api/notifications/").status_code == 401
    assert me.post("/api/notifications/read/", {"id": [1]}, format="json").status_code == 400
