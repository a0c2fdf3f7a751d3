"""Bulk actions on one's own photos: each photo answered on its own, the rest of the batch
still done when one is refused, and nothing left half done."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from api import volume
from api.albums.models import AlbumPhoto
from api.albums.services import create_album, invite
from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db
BULK = "/api/photos/bulk/"


def photo(owner: User, n: int, visibility: str = "public") -> Photo:
    return upload_photo(
        owner=owner, data=image_bytes(color=(n * 13 % 256, n * 29 % 256, 41)), visibility=visibility
    )


def test_an_owner_makes_many_photos_private_at_once_and_hears_which_were_not_theirs(
    alice: User, bob: User
) -> None:
    mine = [photo(alice, n) for n in range(3)]
    theirs = photo(bob, 9)

    answer = client_for(alice).post(
        BULK,
        {
            "photos": [mine[0].pk, theirs.pk, mine[1].pk, mine[2].pk, 987_654],
            "action": "visibility",
            "visibility": "private",
        },
        format="json",
    )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["done"], body["refused"]) == (3, 2)
    assert [r["photo"] for r in body["results"]] == [mine[0].pk, theirs.pk, mine[1].pk, mine[2].pk, 987_654]
    assert [r["done"] for r in body["results"]] == [True, False, True, True, False]
    assert "Not one of your photos" in body["results"][1]["detail"]
    assert set(Photo.objects.filter(owner=alice).values_list("visibility", flat=True)) == {"private"}
    theirs.refresh_from_db()
    assert theirs.visibility == "public"


def test_a_bulk_delete_removes_the_rows_and_their_files_and_leaves_others_photos_alone(
    alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    doomed = [photo(alice, n) for n in range(2)]
    kept = photo(alice, 5)
    theirs = photo(bob, 6)
    files = [volume.original_path(p.content_hash, p.file_ext) for p in doomed]
    assert all(f.exists() for f in files)

    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(alice).post(
            BULK, {"photos": [p.pk for p in doomed] + [theirs.pk], "action": "delete"}, format="json"
        )

    assert answer.status_code == 200 and answer.json()["done"] == 2
    assert set(Photo.objects.values_list("pk", flat=True)) == {kept.pk, theirs.pk}
    assert not any(f.exists() for f in files)
    assert volume.original_path(kept.content_hash, kept.file_ext).exists()


def test_photos_go_into_an_album_the_person_contributes_to_in_the_order_chosen(
    alice: User, bob: User
) -> None:
    album = create_album(owner=alice, title="Trip", visibility="private")
    invite(user=alice, album=album, username="bob", role="contributor")
    first, second = photo(bob, 1), photo(bob, 2)
    api = client_for(bob)

    added = api.post(
        BULK, {"photos": [second.pk, first.pk], "action": "album", "album": album.pk}, format="json"
    )
    again = api.post(BULK, {"photos": [first.pk], "action": "album", "album": album.pk}, format="json")

    assert added.status_code == 200 and added.json()["done"] == 2
    assert again.json()["results"][0]["detail"] == "Already in 'Trip'."
    entries = AlbumPhoto.objects.filter(album=album).order_by("position")
    assert [e.photo_id for e in entries] == [second.pk, first.pk]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"photos": [], "action": "delete"}, "photos"),
        ({"photos": [1], "action": "paint"}, "action"),
        ({"photos": [1], "action": "visibility"}, "Say which visibility"),
        ({"photos": [1], "action": "album"}, "Say which album"),
        ({"photos": [1], "action": "album", "album": 424242}, "no album 424242"),
        ({"photos": list(range(1, 202)), "action": "delete"}, "photos"),
        ({"photos": [1], "action": "delete", "everything": True}, "Unknown field: everything"),
    ],
)
def test_a_request_no_photo_could_pass_is_a_400_that_says_why_and_changes_nothing(
    alice: User, body: dict[str, object], message: str
) -> None:
    kept = photo(alice, 3)
    body = {**body, "photos": [kept.pk if p == 1 else p for p in body["photos"]]}  # type: ignore[attr-defined]

    answer = client_for(alice).post(BULK, body, format="json")

    assert answer.status_code == 400, answer.content
    assert message in answer.json()["detail"]
    kept.refresh_from_db()
    assert kept.visibility == "public"


def test_a_viewer_of_an_album_cannot_add_to_it_and_nothing_is_added(alice: User, bob: User) -> None:
    album = create_album(owner=alice, title="Mine", visibility="public")
    invite(user=alice, album=album, username="bob", role="viewer")

    answer = client_for(bob).post(
        BULK, {"photos": [photo(bob, 4).pk], "action": "album", "album": album.pk}, format="json"
    )

    assert answer.status_code == 403
    assert "contributors can add photos" in answer.json()["detail"]
    assert not AlbumPhoto.objects.filter(album=album).exists()


def test_signed_out_bulk_actions_are_refused(anonymous: object, alice: User) -> None:
    answer = anonymous.post(BULK, {"photos": [photo(alice, 7).pk], "action": "delete"}, format="json")  # type: ignore[attr-defined]

    assert answer.status_code in (401, 403)
    assert Photo.objects.count() == 1
