"""Re-tagging the library for a new model (api/tagging/retag.py): large batches re-scored from
stored embeddings, uploads first, a progress row instead of a count on every status page, and a
newer version that takes over without any photo being re-tagged by the old one first."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.models import Photo
from api.tagging import retag
from api.tagging.models import PhotoEmbedding, Retag
from api.tagging.selectors import backlog
from api.tagging.services import TaggingResult, apply_results, claim_batch, store_embeddings
from tests.helpers.clients import client_for
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db
SPACE = "efficientnet_lite0"


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("boss", staff=True)


def library(
    owner: User, photos: int, *, version: int = 0, embedded: bool = True, start: int = 0
) -> list[int]:
    """Photos tagged by ``version``, each with an embedding in SPACE unless not ``embedded``."""
    made = [bare_photo(owner, start + n) for n in range(photos)]
    ids = [p.pk for p in made]
    Photo.objects.filter(pk__in=ids).update(model_version=version)
    if embedded:
        rng = np.random.default_rng(start)
        store_embeddings(vectors={pk: rng.normal(size=1280).astype(np.float16) for pk in ids}, backbone=SPACE)
    return ids


def claim(version: int, *, size: int = 4, rescore_size: int = 30) -> list[int]:
    photos = claim_batch(
        worker="me", size=size, active_version=version, rescore_size=rescore_size, space=SPACE
    )
    return [p.pk for p in photos]


def rescore(photo_ids: list[int], version: int) -> int:
    """What a worker writes for photos it re-scored from their stored embeddings."""
    results = [TaggingResult(pk, [("harbour", 0.8, version)], None) for pk in photo_ids]
    return apply_results(worker="me", results=results, version=version, backbone=SPACE)


class TestClaims:
    def test_a_re_tag_claims_large_batches_of_embedded_photos_then_the_rest_in_ordinary_ones(
        self, alice: User
    ) -> None:
        embedded = library(alice, 40)
        bare = library(alice, 3, embedded=False, start=100)

        first, second, third = claim(1), claim(1), claim(1)

        assert len(first) == 30 and len(second) == 10 and set(first + second) == set(embedded)
        assert third == sorted(bare)  # no embedding to re-score: an ordinary batch, decoded
        assert claim(1) == []

    def test_an_upload_waiting_is_claimed_first_in_an_ordinary_batch(self, alice: User) -> None:
        stale = library(alice, 40)
        upload = bare_photo(alice, 500)
        Photo.objects.filter(pk=upload.pk).update(status="pending")

        claimed = claim(1)

        assert upload.pk in claimed and len(claimed) == 4  # three re-tags fill it, not thirty
        assert set(claimed) - {upload.pk} <= set(stale)

    def test_a_re_scored_photo_keeps_its_stored_embedding_untouched(self, alice: User) -> None:
        ids = library(alice, 5)
        before = dict(PhotoEmbedding.objects.filter(photo_id__in=ids).values_list("photo_id", "updated_at"))

        assert rescore(claim(1), 1) == 5

        after = dict(PhotoEmbedding.objects.filter(photo_id__in=ids).values_list("photo_id", "updated_at"))
        assert after == before
        assert set(Photo.objects.filter(pk__in=ids).values_list("model_version", flat=True)) == {1}


class TestProgress:
    def test_the_row_counts_what_was_due_and_each_batch_written_until_nothing_is_left(
        self, alice: User
    ) -> None:
        library(alice, 40)

        first = claim(1)
        row = Retag.objects.get(version=1)
        assert (row.total, row.done, row.finished_at) == (40, 0, None)
        rescore(first, 1)
        rescore(claim(1), 1)
        assert Retag.objects.get(version=1).done == 40 and retag.progress().left == 0  # type: ignore[union-attr]

        assert claim(1) == []
        progress = retag.progress()
        assert progress is not None and progress.finished_at is not None and progress.percent == 100

    def test_uploads_tagged_for_the_first_time_are_no_re_tags(self, alice: User) -> None:
        library(alice, 3)
        upload = bare_photo(alice, 500)
        Photo.objects.filter(pk=upload.pk).update(status="pending")

        claimed = claim(1)
        apply_results(
            worker="me", version=1, backbone=SPACE,
            results=[TaggingResult(pk, [("harbour", 0.8, 1)], None if pk != upload.pk else np.ones(1280))
                     for pk in claimed],
        )  # fmt: skip

        assert Retag.objects.get(version=1).done == 3

    def test_a_newer_version_takes_over_and_no_photo_is_re_tagged_by_the_old_one_first(
        self, alice: User
    ) -> None:
        ids = library(alice, 40)
        rescore(claim(1, rescore_size=10), 1)  # version 1 got through 10 of 40

        while batch := claim(2, rescore_size=10):
            assert Photo.objects.filter(pk__in=batch, model_version=1).count() <= 10
            rescore(batch, 2)

        assert set(Photo.objects.filter(pk__in=ids).values_list("model_version", flat=True)) == {2}
        old, new = Retag.objects.get(version=1), Retag.objects.get(version=2)
        assert (old.done, old.finished_at) == (10, None)  # superseded where it stood
        assert (new.total, new.done) == (40, 40) and new.finished_at is not None

    def test_a_version_back_in_service_after_a_rollback_starts_its_count_afresh(self, alice: User) -> None:
        library(alice, 6)
        while batch := claim(1):
            rescore(batch, 1)
        while batch := claim(0):
            rescore(batch, 0)  # rolled back

        row = Retag.objects.get(version=0)
        assert (row.total, row.done) == (6, 6) and row.finished_at is not None


class TestStatus:
    def test_before_a_re_tag_starts_the_photos_due_are_counted_and_then_read_from_its_row(
        self, alice: User
    ) -> None:
        library(alice, 40)
        assert backlog(1, retag.progress())["retagging"] == 40  # a bounded count: no worker has claimed yet

        rescore(claim(1), 1)

        assert backlog(1, retag.progress())["retagging"] == 10

    def test_the_system_status_shows_the_newest_re_tag(self, alice: User, staff: User) -> None:
        library(alice, 40)
        rescore(claim(1), 1)

        shown = client_for(staff).get("/api/system/").json()["retag"]

        assert {k: shown[k] for k in ("version", "total", "done", "left", "percent")} == {
            "version": 1, "total": 40, "done": 30, "left": 10, "percent": 75,
        }  # fmt: skip

    def test_the_dashboard_shows_it_as_a_meter(self, alice: User, staff: User) -> None:
        library(alice, 40)
        rescore(claim(1), 1)

        browser = Client()
        browser.force_login(staff)
        html = browser.get("/staff/operations/").content.decode()

        assert "Re-tagging the library for version 1" in html and "(75%)" in html
        assert 'aria-valuenow="75"' in html
