"""People: profiles with a bio and an avatar, following, and the feed of those one follows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from api.photos.models import Photo
from api.photos.services import update_photo, upload_photo
from api.social.models import Follow
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def photo(owner: User, n: int, visibility: str = "public") -> Photo:
    return upload_photo(owner=owner, data=image_bytes(color=(n * 50 % 256, 3, 130)), visibility=visibility)


def test_following_someone_brings_their_public_photos_into_my_feed_and_counts_on_their_profile(
    alice: User, bob: User
) -> None:
    shown, hidden = photo(alice, 1), photo(alice, 2, "private")
    photo(bob, 3)  # bob's own photo is not in his following feed
    api = client_for(bob)

    card = api.post("/api/users/alice/follow/").json()
    feed = [p["id"] for p in api.get("/api/feed/following/").json()["results"]]

    assert card["followers"] == 1 and card["followed_by_you"] is True and card["public_photos"] == 1
    assert feed == [shown.pk] and hidden.pk not in feed
    assert client_for(alice).get("/api/users/bob/").json()["following"] == 1
    assert api.post("/api/users/alice/follow/").status_code == 200 and Follow.objects.count() == 1
    assert api.delete("/api/users/alice/follow/").json()["followers"] == 0
    assert api.get("/api/feed/following/").json()["results"] == []


def test_following_oneself_or_nobody_is_refused_with_words(alice: User) -> None:
    api = client_for(alice)

    me = api.post("/api/users/alice/follow/")
    ghost = api.post("/api/users/ghost/follow/")
    anonymous = client_for(None).post("/api/users/alice/follow/")

    assert me.status_code == 400 and "cannot follow yourself" in str(me.json())
    assert ghost.status_code == 404 and "nobody called 'ghost'" in str(ghost.json())
    assert anonymous.status_code == 401 and not Follow.objects.exists()
    assert client_for(None).get("/api/feed/following/").status_code == 401


def test_a_profile_has_a_bio_and_one_of_ones_public_photos_as_avatar(alice: User, bob: User) -> None:
    mine, private, theirs = photo(alice, 4), photo(alice, 5, "private"), photo(bob, 6)
    api = client_for(alice)

    saved = api.patch("/api/profile/", {"bio": " Film\x07 photographer ", "avatar": mine.pk}, format="json")
    not_public = api.patch("/api/profile/", {"avatar": private.pk}, format="json")
    not_mine = api.patch("/api/profile/", {"avatar": theirs.pk}, format="json")
    too_long = api.patch("/api/profile/", {"bio": "b" * 501}, format="json")

    assert saved.status_code == 200 and saved.json()["bio"] == "Film photographer"
    assert f"/files/photos/{mine.pk}/grid" in saved.json()["avatar_url"]
    assert not_public.status_code == 400 and not_mine.status_code == 400 and too_long.status_code == 400
    assert "not one of your public photos" in str(not_mine.json())
    update_photo(photo=mine, visibility="private")  # made private since: no longer shown as avatar
    assert client_for(bob).get("/api/users/alice/").json()["avatar_url"] is None
    assert client_for(None).get("/api/users/nobody/").status_code == 404
