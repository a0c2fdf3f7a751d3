"""Searching photos by tag through the API: what people vouched for comes first, the model's
guesses are marked with their score and can be left out, and pages never repeat a photo."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from api.photos.models import Photo
from api.photos.selectors import search_photos, word_matches
from api.tags.services import search_words
from tests.helpers.clients import client_for
from tests.helpers.tags import (
    model_suggests,
    owner_tags,
    person_suggests,
    someone_confirms,
    someone_rejects,
)
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db

API_MAX_QUERIES = 8


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [p["id"] for p in response.json()["results"]]


def plan_without(queryset: QuerySet[Photo], *kinds: str) -> str:
    """PostgreSQL's plan for ``queryset`` with these kinds of plan step forbidden (``enable_...``)."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        for kind in kinds:
            cursor.execute(f"SET LOCAL enable_{kind} = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


class Dresses:
    """What /t/dress/ showed: a few photos people tagged or confirmed as dresses, one a person
    suggested, and model guesses of every confidence, a wrong one rejected. Created oldest first
    in the order of the attributes."""

    def __init__(self, owner: User, voter: User) -> None:
        made = iter(range(1, 100))

        def photo() -> Photo:
            return bare_photo(owner, next(made))

        self.tagged_by_owner = photo()
        owner_tags(self.tagged_by_owner, "dress")
        self.unsure_guess = photo()
        model_suggests(self.unsure_guess, "dress", 0.58)
        self.sure_guess = photo()
        model_suggests(self.sure_guess, "dress", 0.91)
        self.suggested_by_a_person = photo()
        person_suggests(self.suggested_by_a_person, voter, "dress")
        self.confirmed_guess = photo()
        model_suggests(self.confirmed_guess, "dress", 0.52)
        someone_confirms(self.confirmed_guess, voter, "dress")
        self.middling_guess = photo()
        model_suggests(self.middling_guess, "dress", 0.74)
        self.pants = photo()
        model_suggests(self.pants, "dress", 0.88)
        someone_rejects(self.pants, voter, "dress")

    def best_first(self) -> list[int]:
        return [
            self.confirmed_guess.pk,  # confirmed, newest first
            self.tagged_by_owner.pk,
            self.suggested_by_a_person.pk,  # a person's suggestion
            self.sure_guess.pk,  # the model's, most confident first
            self.middling_guess.pk,
            self.unsure_guess.pk,
        ]


@pytest.fixture
def dresses(alice: User, bob: User) -> Dresses:
    return Dresses(alice, bob)


class TestOrder:
    def test_confirmed_photos_come_first_then_a_persons_suggestion_then_the_models_by_score(
        self, dresses: Dresses
    ) -> None:
        assert ids(client_for(None).get("/api/photos/", {"tag": "dress"})) == dresses.best_first()

    def test_a_rejected_tag_never_matches(self, dresses: Dresses) -> None:
        found = ids(client_for(None).get("/api/photos/", {"tag": "dress"}))

        assert dresses.pants.pk not in found

    def test_with_several_tags_a_photo_ranks_by_its_weakest_one(self, alice: User, bob: User) -> None:
        both_confirmed, one_a_persons, surer_guesses, one_unsure = (bare_photo(alice, n) for n in range(4))
        for photo in (both_confirmed, one_a_persons, one_unsure):
            owner_tags(photo, "red")
        model_suggests(surer_guesses, "red", 0.95)
        owner_tags(both_confirmed, "dress")
        person_suggests(one_a_persons, bob, "dress")
        model_suggests(surer_guesses, "dress", 0.9)
        model_suggests(one_unsure, "dress", 0.6)

        found = ids(client_for(None).get("/api/photos/", {"tag": ["dress", "red"]}))

        assert found == [both_confirmed.pk, one_a_persons.pk, surer_guesses.pk, one_unsure.pk]

    def test_pages_follow_the_order_without_repeats_forwards_and_back(
        self, dresses: Dresses, settings: Any
    ) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
        pages: list[dict[str, Any]] = []
        url: str | None = "/api/photos/?tag=dress"
        while url:
            pages.append(client_for(None).get(url).json())
            url = pages[-1]["next"]

        assert [p["id"] for page in pages for p in page["results"]] == dresses.best_first()
        back = client_for(None).get(pages[-1]["previous"]).json()
        assert back["results"] == pages[-2]["results"]

    def test_the_feed_keeps_its_newest_first_cursor(self, dresses: Dresses, settings: Any) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 3}
        first = client_for(None).get("/api/photos/").json()
        second = client_for(None).get(first["next"]).json()

        newest = sorted(Photo.objects.values_list("pk", flat=True), reverse=True)
        assert [p["id"] for p in first["results"] + second["results"]] == newest[:6]
        assert client_for(None).get(second["previous"]).json()["results"] == first["results"]

    def test_a_cursor_that_was_not_made_here_is_a_404(self, dresses: Dresses) -> None:
        response = client_for(None).get("/api/photos/", {"tag": "dress", "cursor": "cD1ub25zZW5zZQ=="})

        assert response.status_code == 404
        assert response.json()["detail"] == "Invalid cursor"


class TestMatchedTags:
    def test_each_photo_says_how_its_searched_tag_stands(self, dresses: Dresses) -> None:
        results = client_for(None).get("/api/photos/", {"tag": "dress"}).json()["results"]
        matched = {p["id"]: p["matched_tags"] for p in results}

        assert matched[dresses.middling_guess.pk] == [
            {"name": "dress", "state": "suggested", "source": "model", "score": 0.74}
        ]
        assert matched[dresses.confirmed_guess.pk] == [
            {"name": "dress", "state": "confirmed", "source": "model", "score": 0.52}
        ]
        assert matched[dresses.suggested_by_a_person.pk] == [
            {"name": "dress", "state": "suggested", "source": "user", "score": None}
        ]

    def test_without_a_tag_search_it_is_an_empty_list(self, dresses: Dresses) -> None:
        feed = client_for(None).get("/api/photos/").json()["results"]
        one = client_for(None).get(f"/api/photos/{dresses.sure_guess.pk}/").json()

        assert {len(p["matched_tags"]) for p in feed} == {0}
        assert one["matched_tags"] == []


class TestTagStateFilter:
    def test_confirmed_lists_only_photos_people_vouched_for(self, dresses: Dresses) -> None:
        response = client_for(None).get("/api/photos/", {"tag": "dress", "tag_state": "confirmed"})

        assert ids(response) == [dresses.confirmed_guess.pk, dresses.tagged_by_owner.pk]
        assert {t["state"] for p in response.json()["results"] for t in p["matched_tags"]} == {"confirmed"}

    def test_any_is_the_default(self, dresses: Dresses) -> None:
        response = client_for(None).get("/api/photos/", {"tag": "dress", "tag_state": "any"})

        assert ids(response) == dresses.best_first()

    def test_with_several_tags_every_one_must_be_confirmed(self, alice: User) -> None:
        both, one = bare_photo(alice, 1), bare_photo(alice, 2)
        for photo in (both, one):
            owner_tags(photo, "dress")
        owner_tags(both, "red")
        model_suggests(one, "red", 0.99)

        response = client_for(None).get("/api/photos/", {"tag": ["dress", "red"], "tag_state": "confirmed"})

        assert ids(response) == [both.pk]

    def test_another_value_is_a_400_that_names_the_choices(self, dresses: Dresses) -> None:
        response = client_for(None).get("/api/photos/", {"tag": "dress", "tag_state": "sure"})

        assert response.status_code == 400
        assert response.json()["detail"] == (
            'tag_state: "sure" is not a tag state to search by: use "confirmed" (only tags people '
            'confirmed) or "any" (suggestions too).'
        )

    def test_the_schema_documents_the_filter_and_the_field(self, client: Any) -> None:
        schema = yaml.safe_load(client.get("/api/schema/").content)

        parameters = {p["name"]: p for p in schema["paths"]["/api/photos/"]["get"]["parameters"]}
        tag_state = parameters["tag_state"]
        assert tag_state["schema"]["enum"] == ["any", "confirmed"]
        assert tag_state["schema"]["default"] == "any"
        assert "confirmed" in tag_state["description"] and "tag" in tag_state["description"]
        photo = schema["components"]["schemas"]["Photo"]["properties"]
        matched = schema["components"]["schemas"]["MatchedTag"]["properties"]
        assert "matched_tags" in photo and set(matched) == {"name", "state", "source", "score"}


class TestATagPage:
    """One tag and no words: the order comes from the index ``tag_search_order``, so a page
    reads its photos and stops, whatever the number of photos with the tag."""

    def test_a_tag_nobody_used_finds_nothing(self, dresses: Dresses) -> None:
        assert ids(client_for(None).get("/api/photos/", {"tag": "ballgown"})) == []

    @pytest.mark.parametrize("tag_state", ["any", "confirmed"])
    def test_postgresql_reads_the_page_from_the_index_without_sorting(
        self, dresses: Dresses, tag_state: str
    ) -> None:
        # The index is built on the same expressions the query ranks by; should they drift apart,
        # PostgreSQL would rank every photo of the tag on each visit, and say so here.
        page = search_photos(AnonymousUser(), tags=["dress"], tag_state=tag_state)[:24]
        plan = plan_without(page, "seqscan", "bitmapscan", "sort")
        assert "tag_search_order" in plan and "Sort" not in plan, plan


def test_a_search_word_is_looked_up_in_indexes_not_checked_photo_by_photo(alice: User) -> None:
    # Reading every photo, by the table or by walking a whole index, is forbidden (no order asked
    # either), so that the only plan left without a penalty is looking the photos up: tagged with
    # the word through the primary key, or with it in their caption through the trigram index.
    # Whether PostgreSQL prefers that to the visibility index depends on the library, and on the
    # table's statistics; bench/bench_scale.py measures it at 1M. A word matched by a subquery run
    # once per photo could not be looked up so, and would read every photo.
    owner_tags(bare_photo(alice, 1), "dress")
    Photo.objects.filter(pk=bare_photo(alice, 2).pk).update(caption="my dress")
    matching = Photo.objects.filter(word_matches(search_words("dress")[0], ["confirmed", "suggested"]))
    plan = plan_without(matching.order_by(), "seqscan", "indexscan", "indexonlyscan")

    assert "BitmapOr" in plan and "photo_caption_trgm" in plan and "photos_photo_pkey" in plan, plan
    assert matching.count() == 2


def test_a_tag_search_makes_the_same_few_queries_with_ten_times_the_photos(
    alice: User, bob: User, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 24}
    made = iter(range(1, 1000))

    def grow(photos: int) -> None:
        for _ in range(photos):
            guess, confirmed = bare_photo(alice, next(made)), bare_photo(alice, next(made))
            model_suggests(guess, "dress", 0.7)
            model_suggests(guess, "red", 0.6)
            owner_tags(confirmed, "dress")
            person_suggests(confirmed, bob, "red")

    def queries() -> int:
        client = client_for(bob)
        client.get("/api/photos/", {"tag": ["dress", "red"]})  # the token and caches warm up
        with CaptureQueriesContext(connection) as captured:
            assert ids(client.get("/api/photos/", {"tag": ["dress", "red"]}))
        return len(captured.captured_queries)

    grow(1)
    small = queries()
    grow(20)  # the first page is full now, each photo with two matched tags

    assert queries() == small <= API_MAX_QUERIES
