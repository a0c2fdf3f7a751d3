"""A training run's data stays bounded however large the library: at most TRAIN_MAX_PHOTOS
labelled photos, the rarest tags kept whole, embeddings read a chunk at a time into one array."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User

from api.tags.services import add_tag
from api.training import sampling
from api.training.labels import build_training_data
from api.training.vouched import Label, collect_labels
from tests.helpers.training import bare_photo, with_embedding

pytestmark = pytest.mark.django_db


def labels_for(counts: dict[str, int]) -> dict[int, list[Label]]:
    per_photo: dict[int, list[Label]] = {}
    pk = 0
    for tag, n in counts.items():
        for _ in range(n):
            pk += 1
            per_photo[pk] = [Label(pk, tag, True, 1.0)]
    return per_photo


def test_under_the_cap_every_labelled_photo_trains() -> None:
    per_photo = labels_for({"cat": 5, "dog": 5})
    assert sampling.capped(per_photo, {"cat": 0, "dog": 1}, 10) == sorted(per_photo)


def test_over_the_cap_the_rarest_tags_keep_every_photo_and_the_frequent_one_gives_way() -> None:
    per_photo = labels_for({"common": 100, "rare": 8, "rarer": 3})
    tag_of = {pk: labels[0].tag for pk, labels in per_photo.items()}
    chosen = sampling.capped(per_photo, {"common": 0, "rare": 1, "rarer": 2}, 40)
    kept = [tag_of[pk] for pk in chosen]
    assert len(chosen) == 40 and chosen == sorted(chosen)
    assert kept.count("rarer") == 3 and kept.count("rare") == 8 and kept.count("common") == 29
    # The same labels choose the same photos, run after run.
    assert sampling.capped(per_photo, {"common": 0, "rare": 1, "rarer": 2}, 40) == chosen


def test_embeddings_are_read_in_chunks_in_order_and_photos_without_one_are_left_out(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampling, "CHUNK", 3)
    rng = np.random.default_rng(0)
    photos = [bare_photo(alice, n) for n in range(8)]
    vectors = {p.pk: rng.normal(size=16) for p in photos if p.pk % 3}
    for photo in photos:
        if photo.pk in vectors:
            with_embedding(photo, vectors[photo.pk])
    ids = [p.pk for p in reversed(photos)]

    kept, matrix = sampling.read_embeddings(ids, "efficientnet_lite0", spare=2)

    assert kept == [pk for pk in ids if pk in vectors]
    assert matrix.shape == (len(ids) + 2, 16) and matrix.dtype == np.float32
    for row, pk in enumerate(kept):
        assert np.allclose(matrix[row], vectors[pk].astype(np.float16))


def test_a_run_with_more_labelled_photos_than_the_cap_trains_on_the_cap(alice: User, settings: Any) -> None:
    settings.MIN_PHOTOS_PER_TAG = 2
    settings.TRAIN_MAX_PHOTOS = 12
    settings.TRAIN_BACKGROUND_PHOTOS = 0
    rng = np.random.default_rng(1)
    for n in range(20):
        photo = with_embedding(bare_photo(alice, n), rng.normal(size=1280))
        add_tag(photo=photo, user=alice, name="common" if n < 16 else "rare")

    data = build_training_data(collect_labels(), "efficientnet_lite0")

    assert len(data.photo_ids) == 12 and data.embeddings.shape == (12, 1280)
    rare = data.labels[:, data.tags.index("rare")]
    assert int(rare.sum()) == 4  # every photo of the rare tag
