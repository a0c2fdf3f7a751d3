"""Favourites and comments through the API: counted on every photo, kept to those who may see
the photo, edited and deleted only by the people who may, and refused with words when bad."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from api.photos.models import Photo
from api.photos.services import update_photo, upload_photo
from api.social.models import Comment, Favourite
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def photo(owner: User, n: int, visibility: str = "public") -> Photo:
    return upload_photo(owner=owner, data=image_bytes(color=(n * 40 % 256, 90, 9)), visibility=visibility)


def test_favourites_are_counted_on_each_photo_and_listed_as_mine_while_i_may_see_them(
    alice: User, bob: User
) -> None:
    pic = photo(alice, 1)
    api = client_for(bob)

    first = api.post(f"/api/photos/{pic.pk}/favourite/")
    again = api.post(f"/api/photos/{pic.pk}/favourite/")
    client_for(alice).post(f"/api/photos/{pic.pk}/favourite/")

    assert first.json() == {"favourited": True, "favourites": 1} and again.json()["favourites"] == 1
    assert api.get(f"/api/photos/{pic.pk}/").json()["favourites"] == 2
    assert next(p for p in api.get("/api/photos/").json()["results"] if p["id"] == pic.pk)["favourites"] == 2
    assert [p["id"] for p in api.get("/api/favourites/").json()["results"]] == [pic.pk]
    update_photo(photo=pic, visibility="private")
    assert api.get("/api/favourites/").json()["results"] == []  # made private since: not shown
    assert api.delete(f"/api/photos/{pic.pk}/favourite/").status_code == 404  # nor reachable
    update_photo(photo=pic, visibility="public")
    assert api.delete(f"/api/photos/{pic.pk}/favourite/").json() == {"favourited": False, "favourites": 1}
    assert client_for(None).get("/api/favourites/").status_code == 401


def test_comments_are_kept_to_those_who_may_see_the_photo(alice: User, bob: User) -> None:
    secret = photo(alice, 2, "private")
    unlisted = photo(alice, 3, "unlisted")
    client_for(alice).post(f"/api/photos/{secret.pk}/comments/", {"body": "note to self"}, format="json")

    assert client_for(bob).get(f"/api/photos/{secret.pk}/comments/").status_code == 404
    assert (
        client_for(bob).post(f"/api/photos/{secret.pk}/comments/", {"body": "hi"}, format="json").status_code
        == 404
    )
    mine = Comment.objects.get(photo=secret)
    assert client_for(bob).patch(f"/api/comments/{mine.pk}/", {"body": "x"}, format="json").status_code == 404
    assert (
        client_for(bob)
        .post(f"/api/photos/{unlisted.pk}/comments/", {"body": "hi"}, format="json")
        .status_code
        == 404
    )
    linked = client_for(bob).post(
        f"/api/photos/{unlisted.pk}/comments/?share={unlisted.share_token}", {"body": "hi"}, format="json"
    )
    assert linked.status_code == 201  # the share link opens the conversation as it opens the photo
    assert (
        client_for(None)
        .post(f"/api/photos/{unlisted.pk}/comments/", {"body": "x"}, format="json")
        .status_code
        == 401
    )


def test_authors_edit_their_own_comments_and_owners_delete_any_on_their_photo(
    alice: User, bob: User, make_user: Any
) -> None:
    carol = make_user("carol")
    pic = photo(alice, 4)
    made = client_for(bob).post(
        f"/api/photos/{pic.pk}/comments/", {"body": "  lovely\x07 light  "}, format="json"
    )
    assert (
        made.status_code == 201 and made.json()["body"] == "lovely light" and made.json()["author"] == "bob"
    )
    url = f"/api/comments/{made.json()['id']}/"

    assert client_for(carol).patch(url, {"body": "mine now"}, format="json").status_code == 403
    assert client_for(alice).patch(url, {"body": "owner's words"}, format="json").status_code == 403
    edited = client_for(bob).patch(url, {"body": "lovely light!"}, format="json")
    assert edited.status_code == 200 and edited.json()["body"] == "lovely light!"
    assert client_for(carol).delete(url).status_code == 403
    assert client_for(alice).delete(url).status_code == 204  # the photo's owner keeps the peace
    assert not Comment.objects.exists()


def test_bad_comments_are_refused_with_words_and_comments_are_rate_limited(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.clear()
    pic = photo(alice, 5)
    api = client_for(bob)
    url = f"/api/photos/{pic.pk}/comments/"

    empty = api.post(url, {"body": " \x00 "}, format="json")
    blank = api.post(url, {"body": "   "}, format="json")
    long = api.post(url, {"body": "a" * 2001}, format="json")
    unknown = api.post(url, {"text": "hi"}, format="json")

    assert empty.status_code == 400 and blank.status_code == 400 and "needs some text" in str(blank.json())
    assert long.status_code == 400 and "the limit is 2000" in str(long.json())
    assert unknown.status_code == 400 and "Unknown field: text" in str(unknown.json())
    assert not Comment.objects.exists() and not Favourite.objects.exists()
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "comments", "2/min")
    cache.clear()  # the refused ones above counted too
    answers = [api.post(url, {"body": f"comment {n}"}, format="json").status_code for n in range(3)]
    assert answers == [201, 201, 429] and Comment.objects.count() == 2
