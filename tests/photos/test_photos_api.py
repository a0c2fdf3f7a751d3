"""The feed, search, one photo, edits, deletion and who may see which file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from api.photos.models import Photo
from tests.helpers.clients import client_for, stored_files, upload
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def post_photo(user: User, n: int, **fields: Any) -> dict[str, Any]:
    response = upload(client_for(user), image_bytes(color=(n * 37 % 256, n * 91 % 256, 50)), **fields)
    assert response.status_code == 201, response.json()
    return response.json()


def ids(response: Any) -> list[int]:
    return [p["id"] for p in response.json()["results"]]


class TestFeedAndSearch:
    def test_the_feed_is_newest_first_and_paginated_without_repeats(self, alice: User, settings: Any) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
        made = [post_photo(alice, n)["id"] for n in range(5)]

        seen: list[int] = []
        url: str | None = "/api/photos/"
        while url:
            page = client_for(None).get(url).json()
            seen += [p["id"] for p in page["results"]]
            url = page["next"]

        assert seen == list(reversed(made))

    def test_others_private_and_unlisted_photos_stay_out_of_the_feed(self, alice: User, bob: User) -> None:
        public = post_photo(alice, 1)["id"]
        unlisted = post_photo(alice, 2, visibility="unlisted")["id"]
        private = post_photo(alice, 3, visibility="private")["id"]

        assert ids(client_for(bob).get("/api/photos/")) == [public]
        assert ids(client_for(None).get("/api/photos/")) == [public]
        assert ids(client_for(alice).get("/api/photos/")) == [private, unlisted, public]

    def test_search_by_tags_needs_every_tag_to_match(self, alice: User) -> None:
        both = post_photo(alice, 1, tags="beach,dog")["id"]
        post_photo(alice, 2, tags="beach")
        post_photo(alice, 3, tags="dog")

        response = client_for(None).get("/api/photos/", {"tag": ["beach", "#Dog"]})

        assert ids(response) == [both]

    def test_a_rejected_tag_does_not_make_a_photo_match(self, alice: User) -> None:
        photo = post_photo(alice, 1, tags="beach")["id"]
        client_for(alice).post(f"/api/photos/{photo}/tags/beach/reject/")

        assert ids(client_for(None).get("/api/photos/", {"tag": "beach"})) == []

    def test_search_by_caption_owner_and_status(self, alice: User, bob: User) -> None:
        holiday = post_photo(alice, 1, caption="Our Holiday in Crete")["id"]
        post_photo(bob, 2, caption="work")

        assert ids(client_for(None).get("/api/photos/", {"q": "holiday"})) == [holiday]
        assert ids(client_for(None).get("/api/photos/", {"owner": "alice"})) == [holiday]
        assert ids(client_for(None).get("/api/photos/", {"status": "tagged"})) == []
        assert len(ids(client_for(None).get("/api/photos/", {"status": "pending"}))) == 2

    def test_a_bad_filter_is_a_400_with_the_reason(self) -> None:
        response = client_for(None).get("/api/photos/", {"status": "done"})

        assert response.status_code == 400
        assert response.json()["detail"].startswith("status:")


class TestOnePhoto:
    def test_a_photo_reads_with_its_fields_tags_and_urls(self, alice: User) -> None:
        photo = post_photo(alice, 1, caption="Hello", tags="sea")

        body = client_for(None).get(f"/api/photos/{photo['id']}/").json()

        for field in ["id", "owner", "caption", "visibility", "status", "width", "height", "taken_at",
                      "image_url", "thumbnail_url", "model_version", "tags", "created_at"]:  # fmt: skip
            assert field in body
        assert body["owner"] == "alice" and body["tags"][0]["name"] == "sea"
        assert client_for(None).get(body["thumbnail_url"]).status_code == 200

    def test_the_owner_edits_caption_and_visibility(self, alice: User) -> None:
        photo = post_photo(alice, 1)

        response = client_for(alice).patch(
            f"/api/photos/{photo['id']}/",
            {"caption": "New\x07 words", "visibility": "unlisted"},
            format="json",
        )

        assert response.status_code == 200
        assert (response.json()["caption"], response.json()["visibility"]) == ("New words", "unlisted")
        assert response.json()["share_url"].startswith("http://testserver/s/")

    def test_edits_by_anyone_else_are_forbidden(self, alice: User, bob: User) -> None:
        photo = post_photo(alice, 1)

        response = client_for(bob).patch(
            f"/api/photos/{photo['id']}/", {"caption": "mine now"}, format="json"
        )

        assert response.status_code == 403
        assert Photo.objects.get(pk=photo["id"]).caption == ""

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"visibility": "everyone"}, "visibility"),
            ({"caption": "x" * 2001}, "caption"),
            (
                {"owner": "bob"},
                "Unknown field: owner. This request accepts: caption, show_location, visibility.",
            ),
            ({"caption": ["a", "list"]}, "caption"),
        ],
    )
    def test_a_bad_edit_is_a_400_with_the_reason(
        self, alice: User, body: dict[str, Any], message: str
    ) -> None:
        photo = post_photo(alice, 1)

        response = client_for(alice).patch(f"/api/photos/{photo['id']}/", body, format="json")

        assert response.status_code == 400
        assert message in response.json()["detail"]

    def test_malformed_json_is_a_400(self, alice: User) -> None:
        photo = post_photo(alice, 1)

        response = client_for(alice).generic(
            "PATCH", f"/api/photos/{photo['id']}/", "{not json", content_type="application/json"
        )

        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    def test_deleting_removes_the_row_and_the_files_no_one_else_uses(
        self, alice: User, bob: User, shared_fs: Path, django_capture_on_commit_callbacks: Any
    ) -> None:
        data = image_bytes(color=(7, 7, 7))
        mine = upload(client_for(alice), data).json()
        theirs = upload(client_for(bob), data).json()

        with django_capture_on_commit_callbacks(execute=True):
            assert client_for(alice).delete(f"/api/photos/{mine['id']}/").status_code == 204
        assert len(stored_files(shared_fs)) == 3  # bob's copy keeps the files

        with django_capture_on_commit_callbacks(execute=True):
            assert client_for(bob).delete(f"/api/photos/{theirs['id']}/").status_code == 204
        assert stored_files(shared_fs) == []
        assert Photo.objects.count() == 0

    def test_only_the_owner_deletes(self, alice: User, bob: User) -> None:
        photo = post_photo(alice, 1)

        assert client_for(bob).delete(f"/api/photos/{photo['id']}/").status_code == 403
        assert client_for(None).delete(f"/api/photos/{photo['id']}/").status_code == 401
        assert Photo.objects.filter(pk=photo["id"]).exists()


class TestPrivateAndUnlistedPhotos:
    FILES = ("original", "grid", "display")

    def test_a_private_photo_and_its_files_are_the_owners_alone(
        self, alice: User, bob: User, make_user: Any
    ) -> None:
        photo = post_photo(alice, 1, visibility="private")
        staff = make_user("admin", staff=True)

        for viewer in (None, bob, staff):
            client = client_for(viewer)
            client.force_login(viewer) if viewer else None
            assert client.get(f"/api/photos/{photo['id']}/").status_code == 404
            assert client.get(f"/p/{photo['id']}/").status_code == 404
            for kind in self.FILES:
                assert client.get(f"/files/photos/{photo['id']}/{kind}").status_code == 404
        owner = APIClient()
        owner.force_login(alice)
        for kind in self.FILES:
            assert owner.get(f"/files/photos/{photo['id']}/{kind}").status_code == 200

    def test_an_unlisted_photo_opens_only_with_its_share_token(self, alice: User, bob: User) -> None:
        photo = post_photo(alice, 1, visibility="unlisted")
        token = Photo.objects.get(pk=photo["id"]).share_token

        assert client_for(bob).get(f"/api/photos/{photo['id']}/").status_code == 404
        assert client_for(bob).get(f"/files/photos/{photo['id']}/grid").status_code == 404
        assert client_for(bob).get(f"/files/photos/{photo['id']}/grid?s=wrong").status_code == 404
        shared = client_for(bob).get(f"/api/photos/{photo['id']}/", {"share": token})
        assert shared.status_code == 200
        assert client_for(bob).get(shared.json()["thumbnail_url"]).status_code == 200
        assert client_for(None).get(f"/s/{token}/").status_code == 200
        assert shared.json()["share_url"] is None  # only the owner is shown the link

    def test_behind_nginx_files_go_out_through_an_internal_redirect(self, alice: User, settings: Any) -> None:
        settings.SERVE_FILES_WITH_NGINX = True
        photo = post_photo(alice, 1)
        stored = Photo.objects.get(pk=photo["id"])

        response = client_for(None).get(f"/files/photos/{photo['id']}/original")

        assert (
            response["X-Accel-Redirect"]
            == f"/protected/originals/{stored.content_hash[:2]}/{stored.content_hash}.jpg"
        )
        assert response.content == b""
