"""Exporting one's own photos and what one said about photos, as a ZIP that is streamed."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api import volume
from api.albums import services as albums
from api.photos.services import upload_photo
from api.social import services as social
from api.tags import services as tags
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def unzipped(response: Any) -> zipfile.ZipFile:
    assert response.streaming, "the export must be streamed, not built in memory"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_export_holds_ones_originals_as_stored_and_their_metadata(alice: User, bob: User) -> None:
    mine = upload_photo(owner=alice, data=image_bytes(color=(9, 9, 9)), caption="my cat", tag_names=["cat"])
    hidden = upload_photo(owner=alice, data=image_bytes(color=(8, 8, 8)), visibility="private")
    bobs = upload_photo(
        owner=bob, data=image_bytes(color=(7, 7, 7)), caption="bob's secret", visibility="public"
    )
    tags.add_tag(photo=bobs, user=alice, name="sea")
    social.add_comment(author=alice, photo=bobs, text="lovely")
    social.favourite(user=alice, photo=bobs)
    social.follow(follower=alice, username="bob")
    album = albums.create_album(owner=alice, title="Holidays")
    albums.add_photos(user=alice, album=album, photo_ids=[mine.pk])

    response = client_for(alice).get("/api/account/export/")

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="tagloop-alice-')
    archive = unzipped(response)
    stored = volume.original_path(mine.content_hash, mine.file_ext).read_bytes()
    assert archive.read(f"photos/photo-{mine.pk}.jpg") == stored
    assert f"photos/photo-{hidden.pk}.jpg" in archive.namelist()
    assert not any(str(bobs.pk) in name for name in archive.namelist())
    data = json.loads(archive.read("tagloop.json"))
    assert data["account"]["username"] == "alice"
    first = data["photos"][0]
    assert (first["caption"], first["visibility"], first["file"]) == (
        "my cat",
        "public",
        f"photos/photo-{mine.pk}.jpg",
    )
    assert [(t["name"], t["state"]) for t in first["tags"]] == [("cat", "confirmed")]
    assert [p["visibility"] for p in data["photos"]] == ["public", "private"]
    assert data["albums"] == [
        {**data["albums"][0], "title": "Holidays", "visibility": "private", "photos": [mine.pk]}
    ]
    assert [c["body"] for c in data["comments"]] == ["lovely"]
    assert [f["photo"] for f in data["favourites"]] == [bobs.pk]
    assert data["following"] == ["bob"]
    assert "bob's secret" not in json.dumps(data)


def test_a_photo_whose_file_is_lost_is_still_in_the_metadata(alice: User) -> None:
    photo = upload_photo(owner=alice, data=image_bytes(color=(3, 3, 3)), caption="lost")
    volume.original_path(photo.content_hash, photo.file_ext).unlink()

    archive = unzipped(client_for(alice).get("/api/account/export/"))

    assert archive.namelist() == ["tagloop.json"]
    assert json.loads(archive.read("tagloop.json"))["photos"][0]["file"] is None


def test_the_website_offers_the_same_export_to_the_signed_in_only(alice: User) -> None:
    upload_photo(owner=alice, data=image_bytes(color=(5, 5, 5)))
    browser = Client()

    assert browser.get("/accounts/export/").status_code == 302
    browser.force_login(alice)
    page = browser.get("/accounts/")
    archive = unzipped(browser.get("/accounts/export/"))

    assert b'href="/accounts/export/"' in page.content
    assert len(archive.namelist()) == 2
