"""A candidate's preview on a large library: the newest tagged photos, and it says of how many."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User

from api.photos.models import Photo
from api.tagging.services import store_embeddings
from api.training import preview as previews
from tests.helpers.training import bare_photo
from trainer.day_zero import ensure_active_model

pytestmark = pytest.mark.django_db


def tagged_library(owner: User, photos: int, *, embedded: int) -> list[int]:
    """Tagged photos, oldest first; the first ``embedded`` have an embedding in day zero's space."""
    ids = [bare_photo(owner, n).pk for n in range(photos)]
    rng = np.random.default_rng(0)
    store_embeddings(vectors={pk: rng.normal(size=1280).astype(np.float16) for pk in ids[:embedded]},
                     backbone="efficientnet_lite0")  # fmt: skip
    assert Photo.objects.filter(pk__in=ids, status="tagged").count() == photos
    return ids


def test_a_preview_re_scores_the_newest_photos_up_to_its_bound_and_says_of_how_many(
    alice: User, shared_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_active_model(shared_fs / "models")
    tagged_library(alice, 9, embedded=7)  # the two newest have no embedding
    monkeypatch.setattr(previews, "PHOTOS", 4)
    monkeypatch.setattr(previews, "CHUNK", 3)  # the bound falls inside a chunk

    found = previews.preview(0).to_dict()

    # Embedded photos 4-7 re-scored; of the photos they span, the two newest need their pixels.
    assert found["photos"] == 4 and found["library"] == 9 and found["without_embedding"] == 2


def test_a_library_within_the_bound_is_previewed_whole_with_the_photos_that_have_no_embedding(
    alice: User, shared_fs: Path
) -> None:
    ensure_active_model(shared_fs / "models")
    tagged_library(alice, 5, embedded=3)

    found = previews.preview(0).to_dict()

    assert found["photos"] == 3 and found["library"] == 5 and found["without_embedding"] == 2
