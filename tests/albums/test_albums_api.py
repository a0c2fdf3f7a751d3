"""Albums through the API: making one, filling it with one's own photos in order, inviting
viewers and contributors, and the rule that an album never widens who may see a photo."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from itertools import product
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api import volume
from api.albums.models import Album, AlbumPhoto
from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db
VISIBILITIES = ("public", "unlisted", "private")


def photo(owner: User, n: int, visibility: str = "public") -> Photo:
    return upload_photo(
        owner=owner, data=image_bytes(color=(n * 9 % 256, n * 31 % 256, 77)), visibility=visibility
    )


def ids(response: object) -> list[int]:
    return [p["id"] for p in response.json()["results"]]  # type: ignore[attr-defined]


def test_an_owner_makes_an_album_fills_it_in_order_reorders_and_sets_a_cover(alice: User) -> None:
    api = client_for(alice)
    made = api.post("/api/albums/", {"title": "  Summer\x07 ", "visibility": "public"}, format="json")
    assert made.status_code == 201, made.content
    album = made.json()
    assert album["title"] == "Summer" and album["role"] == "owner" and album["photo_count"] == 0
    first, second, third = (photo(alice, n) for n in range(3))

    added = api.post(
        f"/api/albums/{album['id']}/photos/", {"photos": [second.pk, first.pk, third.pk]}, format="json"
    )
    again = api.post(f"/api/albums/{album['id']}/photos/", {"photos": [first.pk]}, format="json")

    assert added.status_code == 200 and added.json()["photo_count"] == 3 and again.status_code == 200
    assert ids(api.get(f"/api/albums/{album['id']}/photos/")) == [second.pk, first.pk, third.pk]
    assert (
        api.patch(f"/api/albums/{album['id']}/photos/", {"photos": [third.pk]}, format="json").status_code
        == 200
    )
    assert ids(api.get(f"/api/albums/{album['id']}/photos/")) == [third.pk, second.pk, first.pk]
    covered = api.patch(f"/api/albums/{album['id']}/", {"cover": first.pk}, format="json")
    assert covered.status_code == 200 and f"/files/photos/{first.pk}/grid" in covered.json()["cover_url"]
    api.delete(f"/api/albums/{album['id']}/photos/", {"photos": [first.pk]}, format="json")
    assert api.get(f"/api/albums/{album['id']}/").json()["cover_url"] is None  # its cover left with it
    assert api.delete(f"/api/albums/{album['id']}/").status_code == 204
    assert Photo.objects.filter(pk__in=[first.pk, second.pk, third.pk]).count() == 3  # photos stay


def test_bad_requests_are_refused_with_words_and_change_nothing(alice: User, bob: User) -> None:
    api = client_for(alice)
    album = api.post("/api/albums/", {"title": "Mine"}, format="json").json()
    bobs = photo(bob, 1)
    url = f"/api/albums/{album['id']}/"

    theirs = api.post(url + "photos/", {"photos": [bobs.pk, 123456]}, format="json")
    unknown = api.patch(url, {"titel": "typo"}, format="json")
    empty = api.post("/api/albums/", {"title": " \x07\x01 "}, format="json")
    not_in = api.patch(url, {"cover": bobs.pk}, format="json")
    nobody = api.post(url + "members/", {"username": "ghost"}, format="json")
    anonymous = client_for(None).post("/api/albums/", {"title": "x"}, format="json")

    assert theirs.status_code == 400 and "only your own photos" in theirs.json()["detail"]
    assert str(bobs.pk) in theirs.json()["detail"] and "123456" in theirs.json()["detail"]
    assert unknown.status_code == 400 and "Unknown field: titel" in str(unknown.json())
    assert empty.status_code == 400 and "needs a title" in str(empty.json())
    assert not_in.status_code == 400 and "not in this album" in str(not_in.json())
    assert nobody.status_code == 400 and "nobody called 'ghost'" in str(nobody.json())
    assert anonymous.status_code == 401
    assert AlbumPhoto.objects.count() == 0 and Album.objects.count() == 1


def test_a_contributor_adds_and_removes_their_own_photos_a_viewer_only_looks_a_stranger_sees_nothing(
    alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    carol, dave = make_user("carol"), make_user("dave")
    owner = client_for(alice)
    album = owner.post("/api/albums/", {"title": "Trip"}, format="json").json()  # private
    url = f"/api/albums/{album['id']}/"
    owner.post(url + "photos/", {"photos": [photo(alice, 1).pk]}, format="json")
    assert (
        owner.post(url + "members/", {"username": "bob", "role": "contributor"}, format="json").status_code
        == 200
    )
    members = owner.post(url + "members/", {"username": "carol"}, format="json").json()
    assert {(m["username"], m["role"]) for m in members} == {("bob", "contributor"), ("carol", "viewer")}
    bobs = photo(bob, 2)

    contributor, viewer, stranger = client_for(bob), client_for(carol), client_for(dave)
    assert contributor.post(url + "photos/", {"photos": [bobs.pk]}, format="json").status_code == 200
    alices = AlbumPhoto.objects.get(album_id=album["id"], added_by=alice).photo_id

    assert contributor.delete(url + "photos/", {"photos": [alices]}, format="json").status_code == 403
    assert viewer.post(url + "photos/", {"photos": [photo(carol, 3).pk]}, format="json").status_code == 403
    assert len(ids(viewer.get(url + "photos/"))) == 2 and viewer.get(url).json()["role"] == "viewer"
    assert viewer.patch(url, {"title": "mine now"}, format="json").status_code == 403
    assert stranger.get(url).status_code == 404 and stranger.get(url + "photos/").status_code == 404
    assert album["id"] not in [a["id"] for a in stranger.get("/api/albums/").json()["results"]]
    assert album["id"] in [a["id"] for a in viewer.get("/api/albums/").json()["results"]]
    assert contributor.delete(url + "photos/", {"photos": [bobs.pk]}, format="json").status_code == 200
    assert viewer.delete(url + "members/", {"username": "carol"}, format="json").status_code == 200  # leaves
    assert viewer.get(url).status_code == 404


@pytest.mark.parametrize(
    ("album_visibility", "with_link"), [(v, link) for v in VISIBILITIES for link in (False, True)]
)
def test_an_album_never_widens_who_may_see_a_photo(
    album_visibility: str, with_link: bool, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    """Every cell: album visibility x link x viewer, with a photo of each visibility by the owner
    and by a contributor. Each person sees exactly the photos they could open with no link."""
    carol, dave = make_user("carol"), make_user("dave")
    album = Album.objects.create(owner=alice, title="A", visibility=album_visibility)
    album.members.create(user=bob, role="contributor")
    album.members.create(user=carol, role="viewer")
    photos = {
        (who.username, v): photo(who, n, v) for n, (who, v) in enumerate(product([alice, bob], VISIBILITIES))
    }
    for position, p in enumerate(photos.values()):
        AlbumPhoto.objects.create(album=album, photo=p, position=position, added_by=p.owner)
    link = f"?share={album.share_token}" if with_link else ""

    for person in (None, alice, bob, carol, dave):
        api = client_for(person)
        opens = (
            person in (alice, bob, carol)
            or album_visibility == "public"
            or (album_visibility == "unlisted" and with_link)
        )
        seen = api.get(f"/api/albums/{album.pk}/photos/{link}")
        if not opens:
            assert seen.status_code == 404 and api.get(f"/api/albums/{album.pk}/{link}").status_code == 404
            continue
        could = {
            p.pk
            for (owner, v), p in photos.items()
            if v == "public" or (person is not None and owner == person.username)
        }
        assert set(ids(seen)) == could, (person, album_visibility, with_link)
        assert api.get(f"/api/albums/{album.pk}/{link}").json()["photo_count"] == len(could)
        browser = Client()  # files are fetched with the browser's session, as the site shows them
        if person is not None:
            browser.force_login(person)
        for p in photos.values():  # and the files follow the photos' own rule, not the album's
            status = browser.get(
                f"/files/photos/{p.pk}/grid{'?s=' + album.share_token if with_link else ''}"
            ).status_code
            assert (status == 200) == (p.pk in could)


def test_unlisted_albums_are_never_listed_and_their_link_is_for_the_owner_only(
    alice: User, bob: User
) -> None:
    album = Album.objects.create(owner=alice, title="Link only", visibility="unlisted")

    mine = client_for(alice).get(f"/api/albums/{album.pk}/").json()
    theirs = client_for(bob).get(f"/api/albums/{album.pk}/?share={album.share_token}").json()

    assert album.share_token in mine["share_url"] and theirs["share_url"] is None
    assert client_for(bob).get("/api/albums/").json()["results"] == []
    assert client_for(None).get("/api/albums/?owner=alice").json()["results"] == []


def test_an_album_downloads_as_a_streamed_zip_of_exactly_the_originals_the_viewer_sees(
    alice: User, bob: User
) -> None:
    album = Album.objects.create(owner=alice, title="Road trip: day 1/2", visibility="public")
    shown, hidden = photo(alice, 1), photo(alice, 2, "private")
    for position, p in enumerate([hidden, shown]):
        AlbumPhoto.objects.create(album=album, photo=p, position=position, added_by=alice)

    response = client_for(bob).get(f"/api/albums/{album.pk}/download/")

    assert (
        response.status_code == 200 and response.streaming and response["Content-Type"] == "application/zip"
    )
    assert 'filename="Road trip_ day 1_2.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    assert archive.testzip() is None
    assert archive.namelist() == [f"0001-photo-{shown.pk}.jpg"]
    original = volume.original_path(shown.content_hash, shown.file_ext).read_bytes()
    assert archive.read(f"0001-photo-{shown.pk}.jpg") == original
    owners: Any = client_for(alice).get(f"/api/albums/{album.pk}/download/")
    mine = zipfile.ZipFile(io.BytesIO(b"".join(owners.streaming_content)))
    assert len(mine.namelist()) == 2  # the owner sees their private photo, first in the album's order
    assert mine.namelist()[0] == f"0001-photo-{hidden.pk}.jpg"


def test_the_album_list_says_what_each_album_says_alone_in_the_same_few_queries(
    alice: User, bob: User
) -> None:
    """Counts, covers and roles come with the list's own query: the list agrees with each
    album's own answer and its query count does not grow with the albums."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from api.albums.services import add_photos, create_album, invite, update_album

    made = iter(range(1000))

    def grow(n: int) -> None:
        for _ in range(n):
            i = next(made)
            album = create_album(owner=alice, title=f"a{i}", visibility="public")
            shown, hidden = photo(alice, 3 * i + 1), photo(alice, 3 * i + 2, visibility="private")
            add_photos(user=alice, album=album, photo_ids=[hidden.pk, shown.pk])
            update_album(user=alice, album=album, cover=hidden.pk if i % 2 else shown.pk)
            if i % 3 == 0:
                invite(user=alice, album=album, username="bob", role="contributor")

    api = client_for(bob)
    grow(2)
    with CaptureQueriesContext(connection) as small:
        api.get("/api/albums/")
    grow(10)

    with CaptureQueriesContext(connection) as large:
        listed = api.get("/api/albums/").json()["results"]

    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(listed) == 12
    for album in listed:
        alone = api.get(f"/api/albums/{album['id']}/").json()
        assert (album["photo_count"], album["cover_url"], album["role"]) == (
            alone["photo_count"], alone["cover_url"], alone["role"]
        )  # fmt: skip
    assert {a["photo_count"] for a in listed} == {1}
    assert {a["role"] for a in listed} == {"contributor", None}
    assert sum(a["cover_url"] is None for a in listed) == 6


def test_an_albums_photos_come_with_their_tags_and_favourites_in_the_same_few_queries(
    alice: User, bob: User
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from api.albums.services import add_photos, create_album
    from api.social.services import favourite

    album = create_album(owner=alice, title="trip", visibility="public")
    api = client_for(bob)

    def add(first: int, n: int) -> None:
        photos = [photo(alice, 500 + i) for i in range(first, first + n)]
        add_photos(user=alice, album=album, photo_ids=[p.pk for p in photos])
        for p in photos:
            favourite(user=bob, photo=p)

    add(0, 2)
    with CaptureQueriesContext(connection) as small:
        api.get(f"/api/albums/{album.pk}/photos/")
    add(2, 10)
    with CaptureQueriesContext(connection) as large:
        listed = api.get(f"/api/albums/{album.pk}/photos/").json()["results"]

    assert len(large.captured_queries) == len(small.captured_queries)
    assert [p["favourites"] for p in listed] == [1] * 12
