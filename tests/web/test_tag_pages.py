"""Tag and search pages say what people vouched for: confirmed photos first, the model's guesses
marked with their confidence, a link to leave them out; a photo the model had nothing confident
to say about says so."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.images import image_bytes
from tests.helpers.tags import model_suggests, owner_tags, person_suggests, someone_rejects
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db


def card_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<figure class="card" data-photo-id="(\d+)"', html)]


def card(html: str, photo: Photo) -> str:
    return html.split(f'data-photo-id="{photo.pk}"', 1)[1].split("</figure>", 1)[0]


def link(html: str, text: str) -> str:
    found = re.search(rf'<a class="button" href="([^"]+)">{re.escape(text)}</a>', html)
    assert found, f"no link {text!r}"
    return found.group(1).replace("&amp;", "&")


@pytest.fixture
def library(alice: User, bob: User) -> dict[str, Photo]:
    """Oldest first: a dress its owner tagged, a pair of pants the model took for a dress (74%),
    a dress bob suggested, and boots whose 'dress' bob rejected."""
    photos = {name: bare_photo(alice, n) for n, name in enumerate(["dress", "pants", "suggested", "boots"])}
    owner_tags(photos["dress"], "dress")
    model_suggests(photos["pants"], "dress", 0.74, version=3)
    person_suggests(photos["suggested"], bob, "dress")
    model_suggests(photos["boots"], "dress", 0.9)
    someone_rejects(photos["boots"], bob, "dress")
    return photos


class TestTagPage:
    def test_the_confirmed_photo_comes_first_and_the_models_guess_is_marked_with_its_confidence(
        self, library: dict[str, Photo]
    ) -> None:
        html = Client().get("/t/dress/").content.decode()

        assert card_ids(html) == [library[n].pk for n in ("dress", "suggested", "pants")]
        pants = card(html, library["pants"])
        assert ">suggested 74%</span>" in pants
        assert 'title="Model v3 suggested #dress; nobody has confirmed it yet"' in pants
        assert "suggested by @bob</span>" in card(html, library["suggested"])
        assert "confirmed</span>" in card(html, library["dress"])
        assert "suggested" not in card(html, library["dress"])

    def test_a_link_leaves_the_suggestions_out_and_another_brings_them_back(
        self, library: dict[str, Photo]
    ) -> None:
        html = Client().get("/t/dress/").content.decode()
        only_confirmed = link(html, "Only photos people confirmed")

        confirmed = Client().get(only_confirmed).content.decode()

        assert only_confirmed == "/t/dress/?tag_state=confirmed"
        assert card_ids(confirmed) == [library["dress"].pk]
        assert "Only photos people confirmed as #dress." in confirmed
        everything = Client().get(link(confirmed, "Include suggestions")).content.decode()
        assert card_ids(everything) == card_ids(html)

    def test_with_nothing_confirmed_the_page_says_so(self, alice: User) -> None:
        model_suggests(bare_photo(alice, 1), "hat", 0.6)

        html = Client().get("/t/hat/", {"tag_state": "confirmed"}).content.decode()

        assert card_ids(html) == []
        assert "No photo has this tag confirmed by people yet." in html

    def test_another_tag_state_is_a_400_in_plain_words(self, library: dict[str, Photo]) -> None:
        response = Client().get("/t/dress/", {"tag_state": "<b>sure</b>"})

        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode().startswith('tag_state: "<b>sure</b>" is not a tag state')

    def test_a_refused_tag_name_comes_back_as_plain_text_not_html(self) -> None:
        response = Client().get("/t/<img src=x onerror=alert(1)>/")

        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")

    def test_more_photos_load_in_the_same_order_without_repeats(
        self, alice: User, settings: Any, library: dict[str, Photo]
    ) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 1}
        seen: list[int] = []
        url: str | None = "/t/dress/"
        while url:
            html = Client().get(url, headers={"HX-Request": "true"} if seen else {}).content.decode()
            seen += card_ids(html)
            more = re.search(r'class="more" hx-get="([^"]+)"', html)
            url = more.group(1).replace("&amp;", "&") if more else None

        assert seen == [library[n].pk for n in ("dress", "suggested", "pants")]

    def test_a_card_still_being_tagged_keeps_its_badge_when_it_refreshes(self, alice: User) -> None:
        pending = bare_photo(alice, 1)
        owner_tags(pending, "dress")
        Photo.objects.filter(pk=pending.pk).update(status="pending")

        refresh = re.search(r'hx-get="([^"]+)"', Client().get("/t/dress/").content.decode())
        assert refresh and refresh.group(1) == f"/p/{pending.pk}/card/?tag=dress&amp;tag_state=any"
        again = Client().get(refresh.group(1).replace("&amp;", "&")).content.decode()

        assert "confirmed</span>" in again and "tag=dress" in again


class TestSearchPage:
    def test_several_tags_rank_by_the_weakest_and_each_badge_names_its_tag(self, alice: User) -> None:
        guessed, vouched = bare_photo(alice, 1), bare_photo(alice, 2)
        owner_tags(guessed, "dress")
        model_suggests(guessed, "red", 0.61)
        owner_tags(vouched, "dress")
        owner_tags(vouched, "red")

        html = Client().get("/search/", {"tags": "dress red"}).content.decode()

        assert card_ids(html) == [vouched.pk, guessed.pk]
        assert ">#red suggested 61%</span>" in card(html, guessed)
        assert "#dress confirmed</span>" in card(html, guessed)

    def test_the_toggle_keeps_the_search_and_the_form_keeps_the_toggle(
        self, library: dict[str, Photo]
    ) -> None:
        html = Client().get("/search/", {"tags": "dress", "q": ""}).content.decode()
        only_confirmed = link(html, "Only photos people confirmed")

        confirmed = Client().get(only_confirmed).content.decode()

        assert "tags=dress" in only_confirmed and "tag_state=confirmed" in only_confirmed
        assert card_ids(confirmed) == [library["dress"].pk]
        assert '<input type="hidden" name="tag_state" value="confirmed">' in confirmed

    def test_a_caption_search_has_no_toggle_and_no_badges(self, alice: User) -> None:
        photo = bare_photo(alice, 1)
        Photo.objects.filter(pk=photo.pk).update(caption="Crete")
        model_suggests(photo, "dress", 0.7)

        html = Client().get("/search/", {"q": "crete"}).content.decode()

        assert card_ids(html) == [photo.pk]
        assert "Only photos people confirmed" not in html and "suggested 70%" not in html


class TestNoConfidentSuggestion:
    def test_a_tagged_photo_with_no_tags_says_so_on_its_page_and_its_card(self, alice: User) -> None:
        photo = bare_photo(alice, 1)
        Photo.objects.filter(pk=photo.pk).update(model_version=2)

        page = Client().get(f"/p/{photo.pk}/").content.decode()
        feed = Client().get("/").content.decode()

        assert "No confident suggestion yet: model v2 was not sure enough of any tag for this photo." in page
        assert "No confident suggestion yet" in card(feed, photo)

    def test_a_photo_only_people_tagged_says_the_model_had_nothing_confident(self, alice: User) -> None:
        photo = bare_photo(alice, 1)
        owner_tags(photo, "dress")

        assert "No confident suggestion yet" in Client().get(f"/p/{photo.pk}/").content.decode()

    def test_a_photo_with_a_suggestion_or_still_being_tagged_does_not(self, alice: User) -> None:
        suggested = bare_photo(alice, 1)
        model_suggests(suggested, "dress", 0.8)
        pending = upload_photo(owner=alice, data=image_bytes(color=(1, 2, 3)))

        for photo in (suggested, pending):
            assert "No confident suggestion" not in Client().get(f"/p/{photo.pk}/").content.decode()
        assert "No confident suggestion" not in Client().get("/").content.decode()
