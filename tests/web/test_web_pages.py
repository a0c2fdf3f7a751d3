"""Server-rendered pages: galleries, search, owner edits, log-in throttling and CSRF."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def photo(owner: User, n: int, **fields: Any) -> Photo:
    return upload_photo(owner=owner, data=image_bytes(color=(n * 40 % 256, n * 90 % 256, 9)), **fields)


def card_ids(response: Any) -> list[int]:
    html = response.content.decode()
    return [int(chunk.split('"', 1)[0]) for chunk in html.split('data-photo-id="')[1:]]


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_feed_shows_public_photos_and_the_viewers_own(alice: User, bob: User) -> None:
    public = photo(alice, 1)
    private = photo(alice, 2, visibility="private")
    unlisted = photo(alice, 3, visibility="unlisted")

    assert card_ids(Client().get("/")) == [public.pk]
    assert card_ids(signed_in(bob).get("/")) == [public.pk]
    assert card_ids(signed_in(alice).get("/")) == [unlisted.pk, private.pk, public.pk]


def test_the_feed_pages_on_for_infinite_scroll(alice: User, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    made = [photo(alice, n).pk for n in range(5)]

    first = Client().get("/")
    more_url = first.content.decode().split('class="more" hx-get="')[1].split('"')[0].replace("&amp;", "&")
    second = Client().get(more_url, headers={"HX-Request": "true"})

    assert card_ids(first) == made[::-1][:2]
    assert card_ids(second) == made[::-1][2:4]
    assert "<html" not in second.content.decode()  # a fragment to append, not a page


def test_profile_tag_and_search_pages_list_the_right_photos(alice: User, bob: User) -> None:
    beach = photo(alice, 1, tag_names=["beach", "dog"], caption="Crete")
    photo(alice, 2, tag_names=["beach"])
    photo(bob, 3, tag_names=["dog"])

    assert len(card_ids(Client().get("/u/alice/"))) == 2
    assert len(card_ids(Client().get("/t/dog/"))) == 2
    assert card_ids(Client().get("/search/", {"tags": "#beach dog"})) == [beach.pk]
    assert card_ids(Client().get("/search/", {"q": "crete"})) == [beach.pk]
    assert "may contain only letters" in Client().get("/search/", {"tags": "bad!"}).content.decode()
    assert Client().get("/u/nobody/").status_code == 404


def test_the_owner_edits_and_deletes_on_the_photo_page(alice: User, bob: User) -> None:
    mine = photo(alice, 1)

    assert signed_in(bob).post(f"/p/{mine.pk}/edit/", {"caption": "hacked"}).status_code == 404
    signed_in(alice).post(f"/p/{mine.pk}/edit/", {"caption": "Sunset", "visibility": "unlisted"})
    mine.refresh_from_db()
    assert (mine.caption, mine.visibility) == ("Sunset", "unlisted")
    page = signed_in(alice).get(f"/p/{mine.pk}/").content.decode()
    assert f"/s/{mine.share_token}/" in page  # the owner is shown the share link

    assert signed_in(bob).post(f"/p/{mine.pk}/delete/").status_code == 404
    signed_in(alice).post(f"/p/{mine.pk}/delete/")
    assert not Photo.objects.filter(pk=mine.pk).exists()


def test_tag_chips_show_where_each_tag_came_from(alice: User, bob: User) -> None:
    mine = photo(alice, 1, tag_names=["sea"])
    signed_in(bob).post(f"/p/{mine.pk}/tags/", {"name": "boat"})

    html = Client().get(f"/p/{mine.pk}/").content.decode()

    assert 'class="chip user confirmed" data-tag="sea"' in html
    assert 'class="chip user suggested" data-tag="boat"' in html
    assert "by bob" in html


def test_website_log_in_is_throttled(alice: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "2/min")
    client = Client()

    codes = [
        client.post("/accounts/login/", {"username": "alice", "password": "bad"}).status_code
        for _ in range(3)
    ]

    assert codes == [200, 200, 429]
    assert "Too many attempts" in client.post("/accounts/login/", {"username": "alice"}).content.decode()


def test_website_sign_up_is_throttled_like_log_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "2/min")
    client = Client()
    form = {"password1": "sea-otters-42", "password2": "sea-otters-42"}

    codes = [client.post("/accounts/signup/", {**form, "username": f"new{n}"}).status_code for n in range(3)]

    assert codes == [302, 302, 429]
    assert User.objects.filter(username__startswith="new").count() == 2
    assert (
        "Too many attempts" in client.post("/accounts/signup/", {**form, "username": "new9"}).content.decode()
    )


def test_website_forms_need_a_csrf_token(alice: User) -> None:
    mine = photo(alice, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(f"/p/{mine.pk}/tags/", {"name": "x"}).status_code == 403
    assert client.post(f"/p/{mine.pk}/delete/").status_code == 403
    assert Photo.objects.filter(pk=mine.pk).exists()


def test_the_search_box_of_a_photo_page_starts_empty(alice: User) -> None:
    mine = photo(alice, 1, tag_names=["sea"])

    html = Client().get(f"/p/{mine.pk}/").content.decode()

    assert 'name="q" placeholder="Search tags and captions, e.g. blue dress" value=""' in html


def test_a_page_that_needs_a_log_in_says_so_on_the_log_in_page() -> None:
    client = Client()

    upload = client.get("/upload/", follow=True)
    helping = client.get("/help/", follow=True)
    plain = client.get("/accounts/login/")

    assert upload.redirect_chain and "Log in to upload photos." in upload.content.decode()
    assert 'name="next" value="/upload/"' in upload.content.decode()
    assert "Log in to help the model." in helping.content.decode()
    assert "Log in to" not in plain.content.decode()
