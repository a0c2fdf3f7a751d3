"""The open world in one process (a run through ``execute_run`` on synthetic embeddings): which
photos are negatives, and what a run's head then says about kinds nobody taught. Real workers do
the same end to end in test_open_world.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User

from api.tags.models import PhotoTag, Tag, TagSource, TagState
from api.tags.services import add_tag, vote
from api.training.labels import build_training_data
from api.training.vouched import collect_labels
from tests.helpers.training import KINDS, bare_photo, separable_photos, with_embedding
from tests.training.test_training import models, run_now, trainable
from trainer.inference import Tagger

__all__ = ["models", "trainable"]  # fixtures this module uses

pytestmark = pytest.mark.django_db
_CENTRES_RNG = np.random.default_rng(0)  # as separable_photos draws its kinds' centres
CENTRES = {kind: _CENTRES_RNG.normal(0, 1, 1280) for kind in KINDS}


def look_alike(rng: np.random.Generator, own: np.ndarray) -> np.ndarray:
    """A kind nobody taught that looks a little like the red photos."""
    return own + 0.5 * CENTRES["red"] + rng.normal(0, 1, 1280)


Shown = tuple[str, int] | None  # a photo's first suggestion and the version that made it


def first_suggestions(tagger: Tagger, vectors: list[np.ndarray]) -> list[Shown]:
    predictions = tagger.predict_embeddings(np.stack(vectors).astype(np.float16))
    shown = [tagger.suggestions(p, 5) for p in predictions]
    return [(s[0].tag, s[0].version) if s else None for s in shown]


def untaught_kind_after_a_run(alice: User, models: Path, *, in_the_library: int) -> list[Shown]:
    """What a run's head suggests first for fresh photos of the look-alike kind, after a run
    with ``in_the_library`` unlabelled photos of it; the taught kinds' fresh photos must still get
    their own tag."""
    rng = np.random.default_rng(7)
    own = rng.normal(0, 1, 1280)
    separable_photos(alice, per_kind=12)
    for n in range(in_the_library):
        with_embedding(bare_photo(alice, 50_000 + n), look_alike(rng, own))

    run = run_now()

    assert run.status == "succeeded" and run.model_version is not None, run.error
    assert run.metrics["background_photos"] == in_the_library
    assert run.metrics["gate"]["photos"] == run.metrics["labelled_photos"] == 36  # background: never scored
    tagger = Tagger.load(models, run.model_version, device="cpu")
    taught = first_suggestions(tagger, [CENTRES[kind] + rng.normal(0, 1, 1280) for kind in KINDS])
    assert taught == [(kind, run.model_version) for kind in KINDS]
    return first_suggestions(tagger, [look_alike(rng, own) for _ in range(10)])


def test_an_untaught_kind_in_the_library_gets_no_community_tag_after_a_run(
    alice: User, trainable: None, models: Path
) -> None:
    first = untaught_kind_after_a_run(alice, models, in_the_library=20)

    assert all(shown is None or shown[1] == 0 for shown in first), first  # day zero's, if anything


def test_a_kind_that_appears_nowhere_in_the_library_may_still_get_the_nearest_taught_tag(
    alice: User, trainable: None, models: Path
) -> None:
    # The documented limit: the library's photos of a kind are what teach "none of these".
    first = untaught_kind_after_a_run(alice, models, in_the_library=0)

    assert [shown[0] if shown else None for shown in first] == ["red"] * 10


def test_photos_tagged_only_outside_the_vocabulary_are_negatives_for_every_tag(
    alice: User, trainable: None
) -> None:
    separable_photos(alice, per_kind=4)
    far = np.random.default_rng(3)
    sunset = with_embedding(bare_photo(alice, 1), far.normal(0, 1, 1280))
    add_tag(photo=sunset, user=alice, name="sunset")  # one photo: outside the vocabulary
    not_red = with_embedding(bare_photo(alice, 2), far.normal(0, 1, 1280))
    PhotoTag.objects.create(
        photo=not_red, tag=Tag.objects.get(name="red"), source=TagSource.MODEL,
        state=TagState.SUGGESTED, score=0.6, model_version=1,
    )  # fmt: skip
    vote(photo=not_red, user=alice, name="red", value="reject")  # its one label: not red
    background = with_embedding(bare_photo(alice, 3), far.normal(0, 1, 1280))
    with_embedding(bare_photo(alice, 4, visibility="private"), far.normal(0, 1, 1280))
    bare_photo(alice, 5)  # public, unlabelled, never embedded

    data = build_training_data(collect_labels(), "efficientnet_lite0")

    assert data.tags == sorted(KINDS)
    row = {pk: i for i, pk in enumerate(data.photo_ids)}
    assert set(data.photo_ids) == {*data.judged_ids, background.pk}
    assert data.labels[row[sunset.pk]].tolist() == [0, 0, 0]
    assert data.weights[row[sunset.pk]].tolist() == [0.5, 0.5, 0.5]  # TRAIN_IMPLICIT_NEGATIVE_WEIGHT
    red = data.tags.index("red")
    assert data.labels[row[not_red.pk]].tolist() == [0, 0, 0]
    assert data.weights[row[not_red.pk]].tolist() == [1.0 if i == red else 0.0 for i in range(3)]
    assert not data.judged[row[background.pk]]
    assert data.weights[row[background.pk]].tolist() == pytest.approx([0.1] * 3)  # TRAIN_BACKGROUND_WEIGHT
    # Background photos come and go with every upload; the fingerprint is people's labels.
    with_embedding(bare_photo(alice, 6), far.normal(0, 1, 1280))
    again = build_training_data(collect_labels(), "efficientnet_lite0")
    assert (~again.judged).sum() == 2 and again.fingerprint == data.fingerprint


def test_background_photos_number_at_most_the_setting(alice: User, trainable: None, settings: Any) -> None:
    settings.TRAIN_BACKGROUND_PHOTOS = 2
    separable_photos(alice, per_kind=4)
    far = np.random.default_rng(4)
    for n in range(5):
        with_embedding(bare_photo(alice, n + 1), far.normal(0, 1, 1280))

    assert (~build_training_data(collect_labels(), "efficientnet_lite0").judged).sum() == 2
