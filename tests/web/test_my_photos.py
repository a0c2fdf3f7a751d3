"""'Your photos': one's own photos with a checkbox each, and bulk actions over the ticked ones
that say what they did and what they left alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api.albums.models import AlbumPhoto
from api.albums.services import create_album
from api.photos.models import Photo
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_on(client: Client) -> str:
    return client.get("/my/photos/").content.decode()


def test_the_page_lists_only_ones_own_photos_each_with_a_checkbox(alice: User, bob: User) -> None:
    mine = [bare_photo(alice, n, visibility=v) for n, v in enumerate(["public", "unlisted", "private"])]
    theirs = bare_photo(bob, 9)

    page = signed_in(alice).get("/my/photos/").content.decode()

    for photo in mine:
        assert f'name="photo" value="{photo.pk}"' in page
    assert f'value="{theirs.pk}"' not in page


def test_ones_own_profile_links_to_the_page_and_nobody_elses_does(alice: User, bob: User) -> None:
    client = signed_in(alice)

    assert 'href="/my/photos/">Manage your photos</a>' in client.get("/u/alice/").content.decode()
    assert "Manage your photos" not in client.get("/u/bob/").content.decode()


def test_signed_out_the_page_sends_one_to_log_in_saying_why(client: Client) -> None:
    answer = client.get("/my/photos/", follow=True)

    assert "Log in to manage your photos." in answer.content.decode()


def test_ticked_photos_become_private_and_the_message_names_the_ones_left_alone(
    alice: User, bob: User
) -> None:
    mine = [bare_photo(alice, n) for n in range(2)]
    theirs = bare_photo(bob, 5)
    client = signed_in(alice)

    answer = client.post(
        "/my/photos/bulk/",
        {"photo": [mine[0].pk, theirs.pk, mine[1].pk], "action": "visibility", "visibility": "private"},
    )

    assert answer.status_code == 302 and answer["Location"] == "/my/photos/"
    page = messages_on(client)
    assert "2 photos done (Now private)" in page
    assert f"1 left as they were: Not one of your photos, or it no longer exists. ({theirs.pk})" in page
    assert set(Photo.objects.filter(owner=alice).values_list("visibility", flat=True)) == {"private"}
    assert Photo.objects.get(pk=theirs.pk).visibility == "public"


def test_ticked_photos_go_into_an_album_offered_on_the_page(alice: User) -> None:
    album = create_album(owner=alice, title="Holiday")
    photos = [bare_photo(alice, n) for n in range(2)]
    client = signed_in(alice)
    assert f'<option value="{album.pk}">Holiday</option>' in messages_on(client)

    client.post("/my/photos/bulk/", {"photo": [p.pk for p in photos], "action": "album", "album": album.pk})

    assert list(
        AlbumPhoto.objects.filter(album=album).order_by("position").values_list("photo_id", flat=True)
    ) == [p.pk for p in photos]
    assert "2 photos done (Added to &#x27;Holiday&#x27;)" in messages_on(client)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "delete"}, "Choose at least one photo."),
        ({"action": "paint", "photo": ["PK"]}, "Unknown action"),
        ({"action": "visibility", "photo": ["PK"]}, "Say which visibility"),
        ({"action": "visibility", "visibility": "everyone", "photo": ["PK"]}, "Visibility must be one of"),
        ({"action": "album", "album": "x", "photo": ["PK"]}, "whole numbers"),
        ({"action": "album", "album": "999999", "photo": ["PK"]}, "no album 999999"),
    ],
)
def test_a_bulk_action_that_cannot_be_done_says_why_and_changes_nothing(
    alice: User, form: dict[str, Any], message: str
) -> None:
    kept = bare_photo(alice, 1)
    form = {**form, "photo": [kept.pk for _ in form.get("photo", [])]}
    client = signed_in(alice)

    client.post("/my/photos/bulk/", form)

    assert message in messages_on(client)
    assert Photo.objects.get(pk=kept.pk).visibility == "public"


def test_the_page_makes_the_same_few_queries_with_ten_times_the_photos(alice: User, settings: Any) -> None:
    settings.PAGE_SIZE = 24
    client = signed_in(alice)
    for n in range(3):
        bare_photo(alice, n)
        create_album(owner=alice, title=f"album {n}")
    client.get("/my/photos/")
    with CaptureQueriesContext(connection) as small:
        client.get("/my/photos/")
    for n in range(3, 33):
        bare_photo(alice, n)
        create_album(owner=alice, title=f"album {n}")

    with CaptureQueriesContext(connection) as large:
        client.get("/my/photos/")

    assert len(large.captured_queries) == len(small.captured_queries)
