"""Requests that are malformed or carry what no endpoint expects: unknown fields, wrong types,
broken JSON and multipart bodies, control and NUL characters, bodies over Django's limits. Each
is a 4xx with a sentence saying what is wrong, and nothing is written.

Bad image files are in test_uploads.py; over-long captions and bad edits in test_photos_api.py;
tag names in test_tags.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api.photos.models import Photo
from api.tags.models import PhotoTag, Tag, TagVote
from tests.helpers.clients import client_for, stored_files, upload
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "a-strong-pass-42"


def written(shared_fs: Path) -> tuple[Any, ...]:
    """Everything a request could have written: rows of every kind people create, and files."""
    rows = tuple(
        (model.__name__, model.objects.count(), max(model.objects.values_list("pk", flat=True), default=0))
        for model in (User, Token, Photo, Tag, PhotoTag, TagVote)
    )
    photos = tuple(Photo.objects.values_list("caption", "visibility", "show_location"))
    return (*rows, photos, stored_files(shared_fs))


@pytest.fixture
def photo_id(alice: User) -> int:
    response = upload(client_for(alice), image_bytes(color=(3, 30, 90)), caption="Kept as it is")
    assert response.status_code == 201
    return int(response.json()["id"])


def form_file(data: bytes, name: str = "a.jpg") -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


# Each JSON endpoint a person writes through, with a body it accepts (before any breakage).
JSON_ENDPOINTS = {
    "register": ("post", "/api/auth/register/", {"username": "dora", "password": "sea-otters-42"}),
    "token": ("post", "/api/auth/token/", {"username": "alice", "password": PASSWORD}),
    "password": ("post", "/api/auth/password/", {"old_password": PASSWORD, "new_password": "fresh-pass-77"}),
    "add-tag": ("post", "/api/photos/{id}/tags/", {"name": "harbour"}),
    "edit-photo": ("patch", "/api/photos/{id}/", {"caption": "Changed"}),
}


def send_raw(client: APIClient, method: str, path: str, body: bytes, content_type: str) -> Any:
    # Django sends bytes as they are; the stubs only know str.
    return client.generic(method, path, body, content_type=content_type)  # type: ignore[arg-type]


def call(client: APIClient, endpoint: str, photo_id: int, **kwargs: Any) -> Any:
    method, path, _ = JSON_ENDPOINTS[endpoint]
    return getattr(client, method)(path.format(id=photo_id), **kwargs)


class TestUnknownFields:
    @pytest.mark.parametrize("endpoint", list(JSON_ENDPOINTS))
    def test_a_field_the_endpoint_does_not_know_is_refused_by_name(
        self, alice: User, photo_id: int, shared_fs: Path, endpoint: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)
        body = {**JSON_ENDPOINTS[endpoint][2], "is_staff": True}

        response = call(client, endpoint, photo_id, data=body, format="json")

        assert response.status_code == 400
        assert response.json()["detail"].startswith("Unknown field: is_staff. This request accepts: ")
        assert written(shared_fs) == before

    def test_a_misspelt_upload_field_is_refused_instead_of_ignored(
        self, alice: User, shared_fs: Path
    ) -> None:
        # "visibilty": ignoring it would publish a photo its owner meant to keep private.
        client = client_for(alice)
        before = written(shared_fs)

        response = upload(client, image_bytes(color=(8, 8, 8)), visibilty="private")

        assert response.status_code == 400
        assert "Unknown field: visibilty" in response.json()["detail"]
        assert "visibility" in response.json()["detail"]
        assert written(shared_fs) == before


class TestMalformedBodies:
    @pytest.mark.parametrize("endpoint", list(JSON_ENDPOINTS))
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b'{"name": "harbour"', "JSON parse error"),
            (b"\xff\xfe not even text", "JSON parse error"),
            (b'["a", "list"]', "Expected a dictionary, but got list"),
            (b'"just a string"', "Expected a dictionary, but got str"),
        ],
        ids=["cut-short", "not-utf8", "a-list", "a-string"],
    )
    def test_a_json_body_that_is_not_an_object_is_a_400(
        self, alice: User, photo_id: int, shared_fs: Path, endpoint: str, body: bytes, message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)
        method, path, _ = JSON_ENDPOINTS[endpoint]

        response = send_raw(client, method.upper(), path.format(id=photo_id), body, "application/json")

        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert written(shared_fs) == before

    @pytest.mark.parametrize(
        ("body", "content_type", "status", "message"),
        [
            (b"--x\r\nno boundary given", "multipart/form-data", 400, "Multipart form parse error"),
            (b"nothing like a multipart body", "multipart/form-data; boundary=zz", 400, "image: No file"),
            (
                b'--zz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n\xff\xd8\xff',
                "multipart/form-data; boundary=zz",
                400,
                "image: No file",
            ),
            (b"image=abc", "text/plain", 415, 'Unsupported media type "text/plain"'),
        ],
        ids=["no-boundary", "no-parts", "cut-off-part", "text-plain"],
    )
    def test_a_broken_multipart_upload_is_refused_and_stores_nothing(
        self, alice: User, shared_fs: Path, body: bytes, content_type: str, status: int, message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        response = send_raw(client, "POST", "/api/photos/", body, content_type)

        assert response.status_code == status
        assert message in response.json()["detail"]
        assert written(shared_fs) == before

    def test_a_body_over_djangos_limit_is_a_413_in_the_apis_words(
        self, alice: User, photo_id: int, shared_fs: Path
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)
        huge = b'{"name": "' + b"a" * 3_000_000 + b'"}'

        response = send_raw(client, "POST", f"/api/photos/{photo_id}/tags/", huge, "application/json")

        assert response.status_code == 413
        assert response.json()["detail"].startswith("The request body is too large")
        assert written(shared_fs) == before

    def test_a_form_with_thousands_of_fields_is_a_400_in_the_apis_words(
        self, alice: User, shared_fs: Path
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)
        fields = {f"f{i}": "x" for i in range(1500)}

        response = client.post(
            "/api/photos/", {"image": form_file(image_bytes()), **fields}, format="multipart"
        )

        assert response.status_code == 400
        assert response.json()["detail"] == "The request has too many fields or files."
        assert written(shared_fs) == before


class TestWrongTypes:
    @pytest.mark.parametrize(
        ("endpoint", "body", "message"),
        [
            ("edit-photo", {"visibility": 3}, 'visibility: "3" is not a valid choice.'),
            ("edit-photo", {"show_location": "maybe"}, "show_location: Must be a valid boolean."),
            ("edit-photo", {"caption": {"text": "x"}}, "caption: Not a valid string."),
            ("add-tag", {"name": None}, "name: This field may not be null."),
            ("add-tag", {"name": ["beach", "sea"]}, "name: Not a valid string."),
            (
                "register",
                {"username": ["dora"], "password": "sea-otters-42"},
                "username: Use letters, digits and @/./+/-/_ only.",
            ),
            ("token", {"username": "alice", "password": {"guess": 1}}, "password: Not a valid string."),
        ],
    )
    def test_a_value_of_the_wrong_type_is_a_400_naming_the_field(
        self, alice: User, photo_id: int, shared_fs: Path, endpoint: str, body: dict[str, Any], message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        response = call(client, endpoint, photo_id, data=body, format="json")

        assert response.status_code == 400
        assert response.json()["detail"] == message
        assert written(shared_fs) == before

    def test_an_upload_with_two_visibilities_or_a_text_for_the_image_is_refused(
        self, alice: User, shared_fs: Path
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        not_a_file = client.post("/api/photos/", {"image": "photo.jpg"}, format="multipart")
        two = client.post(
            "/api/photos/",
            {"image": form_file(image_bytes()), "visibility": ["public", "nonsense"]},
            format="multipart",
        )

        assert not_a_file.status_code == 400 and not_a_file.json()["detail"].startswith("image: ")
        assert two.status_code == 400 and two.json()["detail"].startswith("visibility: ")
        assert written(shared_fs) == before


class TestOverLongValues:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"caption": "x" * 2001}, "caption: Ensure this field has no more than 2000 characters."),
            ({"tags": "beach, " + "a" * 51}, "is 51 characters long; the limit is 50."),
        ],
        ids=["caption", "tag"],
    )
    def test_an_upload_with_an_over_long_caption_or_tag_is_refused(
        self, alice: User, shared_fs: Path, fields: dict[str, str], message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        response = upload(client, image_bytes(color=(6, 6, 6)), **fields)

        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert written(shared_fs) == before

    @pytest.mark.parametrize(
        ("endpoint", "body", "message"),
        [
            ("add-tag", {"name": "a" * 51}, "is 51 characters long; the limit is 50."),
            ("register", {"username": "u" * 151, "password": "sea-otters-42"}, "username: Ensure this field"),
            ("token", {"username": "alice", "password": "p" * 129}, "password: Ensure this field"),
        ],
    )
    def test_an_over_long_name_or_password_is_refused(
        self, alice: User, photo_id: int, shared_fs: Path, endpoint: str, body: dict[str, Any], message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        response = call(client, endpoint, photo_id, data=body, format="json")

        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert written(shared_fs) == before


class TestControlCharacters:
    def test_control_and_direction_characters_are_taken_out_of_a_caption(self, alice: User) -> None:
        # ESC sequences would colour a terminal reading the logs; U+202E flips text to spoof it.
        response = upload(client_for(alice), image_bytes(), caption="Sun\x1b[2Jset\u202e gpj.exe\r\nLine two")

        assert response.status_code == 201
        assert response.json()["caption"] == "Sun[2Jset gpj.exe\nLine two"

    @pytest.mark.parametrize(
        ("endpoint", "body", "message"),
        [
            ("add-tag", {"name": "beach\x07"}, "may contain only letters"),
            ("add-tag", {"name": "beach\x00"}, "name: Null characters are not allowed."),
            ("edit-photo", {"caption": "a\x00b"}, "caption: Null characters are not allowed."),
            ("register", {"username": "dora\x1b", "password": "sea-otters-42"}, "username: Use letters"),
            ("token", {"username": "alice\x00", "password": PASSWORD}, "username: Null characters"),
        ],
    )
    def test_control_characters_in_names_are_refused(
        self, alice: User, photo_id: int, shared_fs: Path, endpoint: str, body: dict[str, Any], message: str
    ) -> None:
        client = client_for(alice)
        before = written(shared_fs)

        response = call(client, endpoint, photo_id, data=body, format="json")

        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert written(shared_fs) == before

    @pytest.mark.parametrize(
        ("path", "params", "api"),
        [
            ("/api/tags/", {"q": "be\x00"}, True),
            ("/api/photos/", {"q": "sea\x00"}, True),
            ("/api/photos/{id}/", {"share": "\x00"}, True),
            ("/search/", {"q": "sea\x00"}, False),
            ("/u/ali%00ce/", {}, False),
            ("/s/to%00ken/", {}, False),
            ("/files/photos/{id}/grid", {"s": "\x00"}, False),
        ],
    )
    def test_a_nul_character_in_a_url_is_a_400_not_a_server_error(
        self, photo_id: int, path: str, params: dict[str, str], api: bool
    ) -> None:
        client = Client(raise_request_exception=False)

        response = client.get(path.format(id=photo_id), params)

        assert response.status_code == 400
        text = response.json()["detail"] if api else response.content.decode()
        assert text == "The request contains a NUL character (%00), which is never valid here."

    def test_a_nul_character_in_a_token_or_session_cookie_is_a_400(self, photo_id: int) -> None:
        token = APIClient(raise_request_exception=False)
        token.credentials(HTTP_AUTHORIZATION="Token abc\x00def")
        cookie = Client(raise_request_exception=False)
        cookie.cookies["sessionid"] = "abcdefgh\x00ijk"

        assert token.get("/api/photos/").status_code == 400
        assert cookie.get("/").status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/photos/:/", "/api/photos/1e3/", "/api/photos/-1/", "/api/photos/%C3%A9/"]
)
def test_a_photo_id_that_is_not_a_number_is_a_404(alice: User, path: str) -> None:
    # Found by the fuzz test: the router let ":" through to int() in the view, a 500.
    response = APIClient(raise_request_exception=False).get(path)

    assert response.status_code == 404
