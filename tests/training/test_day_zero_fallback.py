"""A trained head and the day-zero head it falls back on (trainer/inference.py,
``Tagger.suggestions``): the community's confident tags, or else day zero's, never both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.bundles import CAT_CLASSES, publish_head
from tests.helpers.paths import REPO
from trainer.day_zero import ensure_active_model
from trainer.inference import Prediction, Tagger

CAT = REPO / "tests" / "fixtures" / "cat.jpg"
TAUGHT = ["hat", "tabby"]  # the community taught a tag day zero knows too


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_active_model(folder)
    publish_head(folder, 1, TAUGHT, [-6.0, -6.0], fallback_version=0)  # sure of nothing
    publish_head(folder, 2, TAUGHT, [-6.0, -6.0])  # names no fallback
    # Taught espresso and tiger_cat too, but the gate held them back (a weak AP, too few photos).
    held = {"held_back": {"espresso": {"value": 0.3}}, "too_little_support": {"tiger_cat": 2}}
    publish_head(folder, 3, TAUGHT, [-6.0, -6.0], fallback_version=0, gate={"accepted": True, **held})
    return folder


@pytest.fixture(scope="module")
def day_zero(models: Path) -> Tagger:
    return Tagger.load(models, 0, device="cpu")


@pytest.fixture(scope="module")
def community(models: Path) -> Tagger:
    return Tagger.load(models, 1, device="cpu")


def prediction(day_zero: Tagger, own: dict[str, float], fallback: dict[str, float]) -> Prediction:
    scores = np.array([own.get(tag, 0.0) for tag in TAUGHT], dtype=np.float32)
    fallback_scores = np.array([fallback.get(tag, 0.0) for tag in day_zero.tags], dtype=np.float32)
    return Prediction(scores=scores, embedding=np.zeros(1280, np.float16), fallback_scores=fallback_scores)


DAY_ZERO_SAYS = {"tabby": 0.6, "espresso": 0.3, "tiger_cat": 0.2, "lynx": 0.1}


def test_a_confident_community_tag_is_all_a_photo_is_suggested(day_zero: Tagger, community: Tagger) -> None:
    suggestions = community.suggestions(prediction(day_zero, {"hat": 0.7}, DAY_ZERO_SAYS), 5)

    assert [(s.tag, s.version) for s in suggestions] == [("hat", 1)]


def test_where_the_community_is_unsure_day_zero_fills_in_without_taught_or_suppressed_tags(
    day_zero: Tagger, community: Tagger
) -> None:
    unsure = prediction(day_zero, {"hat": 0.49, "tabby": 0.3}, DAY_ZERO_SAYS)

    suggestions = community.suggestions(unsure, 5)
    # tabby: the community decides it; lynx: under day zero's threshold.
    assert [(s.tag, s.score, s.version) for s in suggestions] == [
        ("espresso", pytest.approx(0.3), 0),
        ("tiger_cat", pytest.approx(0.2), 0),
    ]
    assert [s.tag for s in community.suggestions(unsure, 5, suppressed={"tiger_cat"})] == ["espresso"]
    assert [s.tag for s in community.suggestions(unsure, 1)] == ["espresso"]


def test_day_zero_leaves_out_the_tags_the_gate_held_back_as_well_as_the_published_ones(
    models: Path, day_zero: Tagger
) -> None:
    unsure = prediction(day_zero, {}, DAY_ZERO_SAYS)
    held = Tagger.load(models, 3, device="cpu")

    assert [s.tag for s in Tagger.load(models, 1, device="cpu").suggestions(unsure, 5)] == [
        "espresso",
        "tiger_cat",
    ]
    assert held.suggestions(unsure, 5) == []


def test_people_suppress_day_zero_tags_never_the_community_s_own(day_zero: Tagger, community: Tagger) -> None:
    confident = prediction(day_zero, {"hat": 0.7}, DAY_ZERO_SAYS)
    served_alone = Prediction(
        scores=np.array([DAY_ZERO_SAYS.get(tag, 0.0) for tag in day_zero.tags], dtype=np.float32),
        embedding=np.zeros(1280, np.float16),
    )

    assert [s.tag for s in community.suggestions(confident, 5, suppressed={"hat"})] == ["hat"]
    assert [s.tag for s in day_zero.suggestions(served_alone, 5, suppressed={"espresso"})] == [
        "tabby",
        "tiger_cat",
    ]


def test_a_head_that_names_no_fallback_suggests_nothing_where_it_is_unsure(
    day_zero: Tagger, models: Path
) -> None:
    alone = Tagger.load(models, 2, device="cpu")

    assert alone.fallback is None
    assert alone.suggestions(prediction(day_zero, {"hat": 0.49}, DAY_ZERO_SAYS), 5) == []


def test_on_a_real_photo_the_unsure_head_passes_on_day_zeros_cat_from_the_same_backbone_pass(
    day_zero: Tagger, community: Tagger
) -> None:
    served = community.predict_sources([CAT])[0]
    assert isinstance(served, Prediction)
    alone = day_zero.predict_embeddings(served.embedding[None])[0]  # day zero served, on that pass

    suggestions = community.suggestions(served, 5)

    expected = [s for s in day_zero.suggestions(alone, 5 + len(TAUGHT)) if s.tag not in TAUGHT][:5]
    assert suggestions and {s.version for s in suggestions} == {0}
    assert [s.tag for s in suggestions] == [s.tag for s in expected]
    assert {s.tag for s in suggestions} & CAT_CLASSES
    assert [s.score for s in suggestions] == pytest.approx([s.score for s in expected], abs=1e-3)
