"""The home page says what Tagloop is to visitors and to members who have not uploaded yet."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.services import upload_photo
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

INTRO = 'class="intro"'


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_visitor_is_told_what_tagloop_is_and_offered_to_sign_up(alice: User) -> None:
    upload_photo(owner=alice, data=image_bytes())

    html = Client().get("/").content.decode()

    assert INTRO in html
    assert "A model tags every photo you upload" in html
    assert "learns only from the tags people vouched for" in html
    assert 'href="/accounts/signup/">Sign up</a>' in html


def test_a_member_with_no_photos_yet_is_offered_to_upload_and_to_help_the_model(bob: User) -> None:
    html = signed_in(bob).get("/").content.decode()

    assert INTRO in html
    assert 'href="/upload/">Upload your first photos</a>' in html
    assert 'href="/help/">Help the model</a>' in html
    assert "/accounts/signup/" not in html.split(INTRO)[1]


def test_a_member_who_has_uploaded_sees_the_feed_without_the_explanation(alice: User) -> None:
    upload_photo(owner=alice, data=image_bytes())

    html = signed_in(alice).get("/").content.decode()

    assert INTRO not in html and "Latest photos" in html
