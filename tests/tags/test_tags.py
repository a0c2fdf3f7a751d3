"""Tags with provenance: names, who may add them, and how people's votes set their state."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from api.photos.models import Photo
from api.tags import counts
from api.tags.models import OwnerTagCount, PhotoTag, Tag, TagCount, TagSource, TagState
from api.tags.services import TagRejected, normalise
from tests.helpers.clients import client_for, upload
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_photo(alice: User) -> dict[str, Any]:
    return upload(client_for(alice), image_bytes(color=(1, 100, 1)), visibility="public").json()


@pytest.fixture
def private_photo(alice: User) -> dict[str, Any]:
    return upload(client_for(alice), image_bytes(color=(2, 100, 2)), visibility="private").json()


def model_suggests(photo_id: int, name: str, score: float = 0.8, version: int = 0) -> PhotoTag:
    """What the tagging worker of the next issue writes: a suggestion with its score and version."""
    return PhotoTag.objects.create(
        photo=Photo.objects.get(pk=photo_id),
        tag=Tag.objects.get_or_create(name=name)[0],
        source=TagSource.MODEL,
        state=TagState.SUGGESTED,
        score=score,
        model_version=version,
    )


def tag_on(client: Any, photo_id: int, name: str) -> dict[str, Any]:
    tags = client.get(f"/api/photos/{photo_id}/").json()["tags"]
    return next(t for t in tags if t["name"] == name)


class TestTagNames:
    @pytest.mark.parametrize(
        ("raw", "name"),
        [
            ("Beach", "beach"),
            ("#Sunset", "sunset"),
            ("  golden retriever ", "golden_retriever"),
            ("x-ray_2", "x-ray_2"),
        ],
    )
    def test_names_are_normalised(self, raw: str, name: str) -> None:
        assert normalise(raw) == name

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("", "at least one letter"),
            ("#", "at least one letter"),
            ("no!", "only letters"),
            ("a" * 51, "limit is 50"),
        ],
    )
    def test_invalid_names_are_refused_with_the_reason(self, raw: str, reason: str) -> None:
        with pytest.raises(TagRejected, match=reason):
            normalise(raw)

    def test_the_api_answers_an_invalid_name_with_a_400_and_the_reason(
        self, alice: User, public_photo: dict[str, Any]
    ) -> None:
        response = client_for(alice).post(
            f"/api/photos/{public_photo['id']}/tags/", {"name": "<b>"}, format="json"
        )

        assert response.status_code == 400
        assert "may contain only letters" in response.json()["detail"]


class TestAddingAndRemovingTags:
    def test_the_owners_tag_is_confirmed_at_once(self, alice: User, public_photo: dict[str, Any]) -> None:
        response = client_for(alice).post(
            f"/api/photos/{public_photo['id']}/tags/", {"name": "#Dog"}, format="json"
        )

        assert response.status_code == 201
        assert response.json() | {"created_at": None, "updated_at": None} == {
            "name": "dog",
            "source": "user",
            "state": "confirmed",
            "score": None,
            "model_version": None,
            "added_by": "alice",
            "confirmations": 1,
            "rejections": 0,
            "created_at": None,
            "updated_at": None,
        }

    def test_another_persons_tag_is_a_suggestion_until_enough_people_vouch(
        self, alice: User, bob: User, carol: User, public_photo: dict[str, Any]
    ) -> None:
        pid = public_photo["id"]
        client_for(bob).post(f"/api/photos/{pid}/tags/", {"name": "cat"}, format="json")
        assert tag_on(client_for(alice), pid, "cat")["state"] == "suggested"

        client_for(bob).post(f"/api/photos/{pid}/tags/cat/confirm/")  # a second vote by the same person
        assert tag_on(client_for(alice), pid, "cat")["confirmations"] == 1

        client_for(carol).post(f"/api/photos/{pid}/tags/cat/confirm/")
        cat = tag_on(client_for(alice), pid, "cat")
        assert (cat["state"], cat["confirmations"], cat["added_by"]) == ("confirmed", 2, "bob")

    def test_the_owners_word_beats_other_peoples_votes(
        self, alice: User, bob: User, carol: User, public_photo: dict[str, Any]
    ) -> None:
        pid = public_photo["id"]
        for person in (bob, carol):
            client_for(person).post(f"/api/photos/{pid}/tags/", {"name": "cat"}, format="json")

        client_for(alice).post(f"/api/photos/{pid}/tags/cat/reject/")

        cat = tag_on(client_for(alice), pid, "cat")
        assert (cat["state"], cat["confirmations"], cat["rejections"]) == ("rejected", 2, 1)

    def test_a_person_confirms_a_model_suggestion(self, bob: User, public_photo: dict[str, Any]) -> None:
        model_suggests(public_photo["id"], "beach", score=0.91, version=3)

        response = client_for(bob).post(f"/api/photos/{public_photo['id']}/tags/beach/confirm/")

        body = response.json()
        assert response.status_code == 200
        assert (body["source"], body["state"], body["score"], body["model_version"]) == (
            "model",
            "confirmed",
            0.91,
            3,
        )

    def test_a_rejected_model_suggestion_is_kept_as_a_negative(
        self, bob: User, public_photo: dict[str, Any]
    ) -> None:
        model_suggests(public_photo["id"], "snow")

        client_for(bob).post(f"/api/photos/{public_photo['id']}/tags/snow/reject/")

        row = PhotoTag.objects.get(photo_id=public_photo["id"], tag__name="snow")
        assert (row.source, row.state) == ("model", "rejected")

    def test_the_owner_removing_a_model_suggestion_rejects_it_instead_of_forgetting_it(
        self, alice: User, public_photo: dict[str, Any]
    ) -> None:
        model_suggests(public_photo["id"], "snow")

        response = client_for(alice).delete(f"/api/photos/{public_photo['id']}/tags/snow/")

        assert response.status_code == 200 and response.json()["state"] == "rejected"
        assert PhotoTag.objects.filter(tag__name="snow", state="rejected").count() == 1

    def test_the_owner_removes_a_persons_tag_for_good(
        self, alice: User, public_photo: dict[str, Any]
    ) -> None:
        client_for(alice).post(f"/api/photos/{public_photo['id']}/tags/", {"name": "dog"}, format="json")

        response = client_for(alice).delete(f"/api/photos/{public_photo['id']}/tags/dog/")

        assert response.status_code == 204
        assert not PhotoTag.objects.filter(tag__name="dog").exists()

    def test_the_owner_removing_someone_elses_tag_keeps_it_as_the_owners_rejection(
        self, alice: User, bob: User, public_photo: dict[str, Any]
    ) -> None:
        client_for(bob).post(f"/api/photos/{public_photo['id']}/tags/", {"name": "cat"}, format="json")

        response = client_for(alice).delete(f"/api/photos/{public_photo['id']}/tags/cat/")

        row = PhotoTag.objects.get(photo_id=public_photo["id"], tag__name="cat")
        assert response.status_code == 200 and response.json()["state"] == "rejected"
        assert row.state == "rejected"
        assert dict(row.votes.values_list("user__username", "value")) == {"bob": "confirm", "alice": "reject"}

    def test_someone_else_cannot_remove_the_owners_tag(
        self, alice: User, bob: User, public_photo: dict[str, Any]
    ) -> None:
        client_for(alice).post(f"/api/photos/{public_photo['id']}/tags/", {"name": "dog"}, format="json")

        response = client_for(bob).delete(f"/api/photos/{public_photo['id']}/tags/dog/")

        assert response.status_code == 403
        assert "Only the owner" in response.json()["detail"]

    def test_a_person_withdraws_their_own_suggestion(self, bob: User, public_photo: dict[str, Any]) -> None:
        client_for(bob).post(f"/api/photos/{public_photo['id']}/tags/", {"name": "tree"}, format="json")

        response = client_for(bob).delete(f"/api/photos/{public_photo['id']}/tags/tree/")

        assert response.status_code == 204

    def test_nobody_but_the_owner_can_tag_or_even_find_a_private_photo(
        self, bob: User, anonymous: Any, private_photo: dict[str, Any]
    ) -> None:
        pid = private_photo["id"]
        assert (
            client_for(bob).post(f"/api/photos/{pid}/tags/", {"name": "x"}, format="json").status_code == 404
        )
        assert client_for(bob).post(f"/api/photos/{pid}/tags/x/confirm/").status_code == 404
        assert anonymous.post(f"/api/photos/{pid}/tags/", {"name": "x"}, format="json").status_code == 401

    def test_voting_on_a_tag_the_photo_does_not_have_is_a_404(
        self, bob: User, public_photo: dict[str, Any]
    ) -> None:
        response = client_for(bob).post(f"/api/photos/{public_photo['id']}/tags/unicorn/confirm/")

        assert response.status_code == 404
        assert "no tag 'unicorn'" in response.json()["detail"]


class TestTagSearch:
    def test_others_see_a_new_public_tag_once_the_counts_are_refreshed(self, alice: User, bob: User) -> None:
        upload(client_for(alice), image_bytes(color=(5, 5, 5)), tags="harbour", visibility="public")

        assert client_for(bob).get("/api/tags/", {"q": "harb"}).json()["results"] == []
        counts.refresh()
        assert client_for(bob).get("/api/tags/", {"q": "harb"}).json()["results"] == [
            {"name": "harbour", "photo_count": 1}
        ]

    def test_the_owner_sees_their_own_new_tags_counted_at_once(self, alice: User, bob: User) -> None:
        upload(client_for(bob), image_bytes(color=(6, 6, 6)), tags="harbour", visibility="public")
        counts.refresh()
        upload(client_for(alice), image_bytes(color=(7, 7, 7)), tags="harbour", visibility="public")
        upload(client_for(alice), image_bytes(color=(8, 8, 8)), tags="harbour,dock", visibility="private")

        results = client_for(alice).get("/api/tags/", {"q": ""}).json()["results"]

        # Her own two, at once; Bob's public one is in the counts too, hers not yet: the larger
        # of the two public counts stands until the next refresh.
        assert results == [{"name": "harbour", "photo_count": 2}, {"name": "dock", "photo_count": 1}]
        assert client_for(None).get("/api/tags/").json()["results"] == [{"name": "harbour", "photo_count": 1}]
        counts.refresh()
        results = client_for(alice).get("/api/tags/", {"q": "ha"}).json()["results"]
        assert results == [{"name": "harbour", "photo_count": 3}]

    def test_a_large_librarys_own_counts_come_from_the_background_with_its_new_tags_at_once(
        self, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(counts, "OWNER_COUNTS_FROM", 2)
        owner = client_for(alice)
        first = upload(owner, image_bytes(color=(11, 11, 11)), tags="harbour", visibility="public").json()
        upload(owner, image_bytes(color=(12, 12, 12)), tags="harbour", visibility="private")
        upload(client_for(bob), image_bytes(color=(13, 13, 13)), tags="harbour", visibility="public")
        counts.refresh()
        rows = OwnerTagCount.objects.values_list(
            "owner__username", "tag__name", "public_photos", "other_photos"
        )
        assert list(rows) == [("alice", "harbour", 1, 1)]  # Bob's one photo is counted live

        upload(owner, image_bytes(color=(14, 14, 14)), tags="harbour,dock", visibility="private")
        assert (
            owner.post(f"/api/photos/{first['id']}/tags/", {"name": "pier"}, format="json").status_code == 201
        )

        # New tags at once; harbour's third private photo waits for the refresh: the larger public
        # count (Alice's and Bob's) plus her one private photo as counted.
        assert owner.get("/api/tags/", {"q": ""}).json()["results"] == [
            {"name": "harbour", "photo_count": 3}, {"name": "dock", "photo_count": 1},
            {"name": "pier", "photo_count": 1},
        ]  # fmt: skip
        assert client_for(bob).get("/api/tags/", {"q": "dock"}).json()["results"] == []
        counts.refresh()
        assert owner.get("/api/tags/", {"q": "har"}).json()["results"] == [
            {"name": "harbour", "photo_count": 4}
        ]

    def test_a_tag_leaves_the_counts_with_its_last_public_photo(self, alice: User, bob: User) -> None:
        photo = upload(client_for(alice), image_bytes(color=(9, 9, 9)), tags="harbour", visibility="public")
        counts.refresh()
        Photo.objects.filter(pk=photo.json()["id"]).update(visibility="private")

        counts.refresh()

        assert client_for(bob).get("/api/tags/", {"q": "harbour"}).json()["results"] == []
        assert not TagCount.objects.exists()

    def test_a_rejected_tag_counts_as_a_rejected_suggestion_not_as_a_photo_with_it(
        self, alice: User, public_photo: dict[str, Any]
    ) -> None:
        tag = model_suggests(public_photo["id"], "fog")
        tag.state = TagState.REJECTED
        tag.save()
        model_suggests(public_photo["id"], "mist")

        counts.refresh()

        rows = TagCount.objects.order_by("tag__name").values_list(
            "tag__name", "public_photos", "model_confirmed", "model_rejected"
        )
        assert list(rows) == [("fog", 0, 0, 1), ("mist", 1, 0, 0)]

    def test_making_photos_private_sends_one_recount_until_it_starts(
        self, alice: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
    ) -> None:
        sent: list[str] = []
        monkeypatch.setattr(counts.app, "send_task", lambda name, **options: sent.append(name))
        cache.delete(counts.RECOUNT_QUEUED)
        owner = client_for(alice)
        photos = [
            upload(owner, image_bytes(color=(c, c, c)), tags="harbour", visibility="public").json()["id"]
            for c in (20, 30)
        ]

        def edits(*changes: tuple[int, dict[str, str]]) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                for photo_id, fields in changes:
                    assert owner.patch(f"/api/photos/{photo_id}/", fields, format="json").status_code == 200

        edits(*((photo_id, {"visibility": "private"}) for photo_id in photos))
        assert sent == [counts.REFRESH_COUNTS, counts.REFRESH_VOCABULARY]

        counts.refresh()  # the recount starts: what changes now needs another
        edits((photos[0], {"caption": "still private"}), (photos[0], {"visibility": "unlisted"}))
        assert len(sent) == 2  # neither edit took a public photo out of sight
        edits((photos[0], {"visibility": "public"}), (photos[0], {"visibility": "private"}))
        assert len(sent) == 4

    def test_the_counts_are_refreshed_on_a_schedule_on_the_default_queue(self, settings: Any) -> None:
        counts.app.loader.import_default_modules()  # the workers' task modules, as a worker loads them

        for entry_name, task in (("tag-counts-refresh", counts.REFRESH_COUNTS),
                                 ("training-vocabulary-refresh", counts.REFRESH_VOCABULARY)):  # fmt: skip
            entry = settings.CELERY_BEAT_SCHEDULE[entry_name]
            assert entry["task"] == task in counts.app.tasks
            assert entry["schedule"] == float(settings.TAG_COUNTS_SECONDS)
            assert counts.app.amqp.router.route({}, task)["queue"].name == "default"

    def test_autocomplete_lists_matching_tags_with_counts_prefix_first(self, alice: User, bob: User) -> None:
        upload(client_for(alice), image_bytes(color=(1, 1, 1)), tags="sunset,beach")
        upload(client_for(alice), image_bytes(color=(2, 2, 2)), tags="sunset")
        upload(client_for(bob), image_bytes(color=(3, 3, 3)), tags="unsettled")
        counts.refresh()

        results = client_for(None).get("/api/tags/", {"q": "sun"}).json()["results"]

        assert results == [{"name": "sunset", "photo_count": 2}]
        results = client_for(None).get("/api/tags/", {"q": "set"}).json()["results"]
        assert [r["name"] for r in results] == ["sunset", "unsettled"]

    def test_tags_of_private_photos_are_not_counted_for_others(self, alice: User, bob: User) -> None:
        upload(client_for(alice), image_bytes(color=(4, 4, 4)), tags="secret", visibility="private")
        counts.refresh()

        assert client_for(bob).get("/api/tags/", {"q": "secret"}).json()["results"] == []
        assert client_for(alice).get("/api/tags/", {"q": "secret"}).json()["results"] == [
            {"name": "secret", "photo_count": 1}
        ]
