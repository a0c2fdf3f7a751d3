"""The one search box: each word is a tag of the photo or a word of its caption. The same tests
run on PostgreSQL and, through tests/deploy/test_search_on_sqlite.py, on SQLite (make run's
embedded default)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.models import Photo
from tests.helpers.tags import model_suggests, owner_tags, person_suggests, someone_rejects
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db


def card_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<figure class="card" data-photo-id="(\d+)"', html)]


def search(words: str, **params: str) -> str:
    return Client().get("/search/", {"q": words, **params}).content.decode()


def captioned(owner: User, n: int, caption: str) -> Photo:
    photo = bare_photo(owner, n)
    Photo.objects.filter(pk=photo.pk).update(caption=caption)
    return photo


def test_blue_dress_finds_the_photo_captioned_my_blue_dress(alice: User) -> None:
    dress = captioned(alice, 1, "My Blue Dress")
    captioned(alice, 2, "a blue sky")

    assert card_ids(search("blue dress")) == [dress.pk]
    assert card_ids(search("dress, BLUE")) == [dress.pk]  # any order, any case


def test_each_word_may_match_a_tag_or_the_caption(alice: User) -> None:
    tagged_blue = captioned(alice, 1, "my new dress")
    owner_tags(tagged_blue, "blue")
    tagged_both = bare_photo(alice, 2)
    owner_tags(tagged_both, "blue")
    owner_tags(tagged_both, "dress")
    only_blue = bare_photo(alice, 3)
    owner_tags(only_blue, "blue")

    assert set(card_ids(search("blue dress"))) == {tagged_blue.pk, tagged_both.pk}


def test_tag_matches_rank_by_what_people_vouched_for_then_caption_matches(alice: User, bob: User) -> None:
    in_caption = captioned(alice, 1, "summer dress")
    guessed = bare_photo(alice, 2)
    model_suggests(guessed, "dress", 0.6)
    confirmed = bare_photo(alice, 3)
    owner_tags(confirmed, "dress")
    suggested = bare_photo(alice, 4)
    person_suggests(suggested, bob, "dress")
    newest_in_caption = captioned(alice, 5, "dress for a party")

    assert card_ids(search("dress")) == [
        confirmed.pk,
        suggested.pk,
        guessed.pk,
        newest_in_caption.pk,
        in_caption.pk,
    ]


def test_a_rejected_tag_does_not_match_but_the_caption_still_does(alice: User, bob: User) -> None:
    rejected = bare_photo(alice, 1)
    model_suggests(rejected, "dress", 0.9)
    someone_rejects(rejected, bob, "dress")
    rejected_but_captioned = captioned(alice, 2, "dress")
    model_suggests(rejected_but_captioned, "dress", 0.9)
    someone_rejects(rejected_but_captioned, bob, "dress")

    assert card_ids(search("dress")) == [rejected_but_captioned.pk]


def test_words_that_are_tags_become_chips_and_the_others_do_not(alice: User) -> None:
    photo = captioned(alice, 1, "my blue dress")
    owner_tags(photo, "dress")

    html = search("blue dress")

    assert '<li class="chip"><a href="/t/dress/">#dress</a></li>' in html
    assert 'href="/t/blue/"' not in html
    assert 'name="q" placeholder="Search tags and captions, e.g. blue dress" value="blue dress"' in html


def test_a_tag_only_on_a_private_photo_is_no_chip_and_finds_nothing(alice: User) -> None:
    hidden = bare_photo(alice, 1)
    Photo.objects.filter(pk=hidden.pk).update(visibility="private")
    owner_tags(hidden, "secretplace")

    html = search("secretplace")

    assert card_ids(html) == [] and "#secretplace" not in html


def test_only_confirmed_applies_to_the_tag_matches(alice: User) -> None:
    confirmed = bare_photo(alice, 1)
    owner_tags(confirmed, "dress")
    guessed = bare_photo(alice, 2)
    model_suggests(guessed, "dress", 0.6)

    assert card_ids(search("dress", tag_state="confirmed")) == [confirmed.pk]


def test_words_that_cannot_be_tags_are_still_looked_for_in_captions(alice: User) -> None:
    photo = captioned(alice, 1, "it's my dress!")

    assert card_ids(search("it's dress!")) == [photo.pk]
    assert card_ids(search("#dress")) == [photo.pk]


def test_the_api_takes_the_same_words_as_search(alice: User) -> None:
    dress = captioned(alice, 1, "my blue dress")
    tagged = bare_photo(alice, 2)
    owner_tags(tagged, "blue")
    owner_tags(tagged, "dress")

    found = Client().get("/api/photos/", {"search": "blue dress"}).json()["results"]

    assert [p["id"] for p in found] == [tagged.pk, dress.pk]
    assert sorted(t["name"] for t in found[0]["matched_tags"]) == ["blue", "dress"]


def test_one_word_pages_through_tag_then_caption_matches_without_repeats(
    alice: User, bob: User, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    in_caption = captioned(alice, 1, "a red dress")
    unsure = bare_photo(alice, 2)
    model_suggests(unsure, "dress", 0.55)
    sure = bare_photo(alice, 3)
    model_suggests(sure, "dress", 0.9)
    confirmed = captioned(alice, 4, "dress, again")  # its caption changes nothing: it is tagged
    owner_tags(confirmed, "dress")
    suggested = bare_photo(alice, 5)
    person_suggests(suggested, bob, "dress")
    newer_in_caption = captioned(alice, 6, "Dresses")

    pages: list[dict[str, Any]] = []
    url: str | None = "/api/photos/?search=dress"
    while url:
        pages.append(Client().get(url).json())
        url = pages[-1]["next"]

    assert [p["id"] for page in pages for p in page["results"]] == [
        confirmed.pk, suggested.pk, sure.pk, unsure.pk, newer_in_caption.pk, in_caption.pk,
    ]  # fmt: skip
    assert Client().get(pages[-1]["previous"]).json()["results"] == pages[-2]["results"]
