"""Defaults that keep a photo site safe when it runs as it ships: security headers from Django
itself (for `make run`, where no nginx adds them), and photo files reachable only through the
permission check. Compose, nginx and the settings' environment are checked in test_compose.py
and test_settings.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api import volume
from api.photos.models import Photo
from tests.helpers.clients import client_for, upload
from tests.helpers.images import image_bytes
from tests.helpers.paths import REPO

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/api/photos/", "/accounts/login/", "/p/999999/", "/healthz"])
def test_every_answer_carries_the_security_headers_even_without_nginx(path: str) -> None:
    response = Client().get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_a_photo_file_is_served_with_its_real_type_and_no_sniffing(alice: User) -> None:
    photo = upload(client_for(alice), image_bytes("PNG"), "looks-like.html").json()

    response = Client().get(f"/files/photos/{photo['id']}/original")

    assert (response["Content-Type"], response["X-Content-Type-Options"]) == ("image/png", "nosniff")


def test_a_private_original_cannot_be_fetched_by_its_path_on_disk(alice: User, shared_fs: Path) -> None:
    photo = Photo.objects.get(pk=upload(client_for(alice), image_bytes(), visibility="private").json()["id"])
    relative = volume.relative(volume.original_path(photo.content_hash, photo.file_ext))
    assert (shared_fs / relative).exists()

    for guess in (f"/static/{relative}", f"/shared_fs/{relative}", f"/protected/{relative}", f"/{relative}"):
        assert Client().get(guess).status_code == 404, guess


def test_no_template_relies_on_inline_script_that_the_content_security_policy_blocks() -> None:
    # nginx sends script-src 'self': an inline onclick/onsubmit silently does nothing there.
    inline = re.compile(r"""\s(on[a-z]+)\s*=\s*["']""")
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(1)}"
        for path in (REPO / "web" / "templates").rglob("*.html")
        for match in inline.finditer(path.read_text())
    ]
    scripts = [
        str(path.relative_to(REPO))
        for path in (REPO / "web" / "templates").rglob("*.html")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", path.read_text())
    ]

    assert offenders == [] and scripts == []
