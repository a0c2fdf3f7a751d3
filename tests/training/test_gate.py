"""The gate as a pure function: intervals, support, a first model by its lower bound, and a
candidate against the active model on photos neither trained on."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.gate import Resampled, bootstrap_map, judge

RULES: dict[str, Any] = {"tolerance": 0.02, "min_map": 0.5, "min_support": 5, "resamples": 200}


def two_tags(photos_per_tag: int, *, seed: int = 0, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Labels of two tags, one per photo, and scores that rank them well but not perfectly."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((2 * photos_per_tag, 2))
    labels[:photos_per_tag, 0] = labels[photos_per_tag:, 1] = 1
    scores = np.clip(labels * 0.7 + rng.normal(0.15, noise, labels.shape), 0, 1)
    return labels, scores


def test_an_interval_holds_its_value_and_narrows_with_more_photos() -> None:
    few = bootstrap_map(*two_tags(6, noise=0.45), resamples=200)
    many = bootstrap_map(*two_tags(200, noise=0.45), resamples=200)

    assert few.low <= few.value <= few.high and many.low <= many.value <= many.high
    assert many.high - many.low < few.high - few.low


def test_a_first_model_judged_on_too_few_photos_is_not_activated() -> None:
    # Five photos, one or two per tag: the case that once activated "mAP 1.000".
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])

    verdict = judge(labels=labels, tags=["dress", "hat", "shoes"], candidate_scores=labels * 0.9,
                    active_scores=None, active_tags=[], **RULES)  # fmt: skip

    assert not verdict.accepted
    assert "no tag has 5 validation photos" in verdict.reason and "dress (2)" in verdict.reason
    assert verdict.numbers["too_little_support"] == {"dress": 2, "hat": 2, "shoes": 1}


def test_a_tag_with_too_little_support_is_named_left_out_of_the_figure_and_held_back() -> None:
    labels, scores = two_tags(30)
    labels = np.hstack([labels, np.zeros((60, 1))])
    labels[0, 2] = 1
    scores = np.hstack([scores, np.zeros((60, 1))])  # the rare tag ranked last: AP 1/60 if it counted

    verdict = judge(labels=labels, tags=["a", "b", "rare"], candidate_scores=scores, active_scores=None,
                    active_tags=[], **RULES)  # fmt: skip

    assert verdict.accepted, verdict.reason
    assert verdict.numbers["too_little_support"] == {"rare": 1} and "rare (1)" in verdict.reason
    assert verdict.numbers["candidate_map"]["value"] > 0.9
    assert verdict.held_back == ("rare",)


def test_a_first_model_must_pass_its_minimum_by_the_lower_bound_not_the_value() -> None:
    labels, scores = two_tags(8, noise=0.45, seed=3)
    interval = bootstrap_map(labels, scores, resamples=200)
    rules: dict[str, Any] = {
        **RULES,
        "min_map": (interval.low + interval.value) / 2,
    }  # between the bound and the value

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=scores, active_scores=None,
                    active_tags=[], **rules)  # fmt: skip

    assert interval.value > rules["min_map"] and not verdict.accepted
    assert "does not reach the minimum" in verdict.reason and "by its lower bound" in verdict.reason


def test_a_candidate_much_worse_than_the_active_model_on_shared_tags_is_rejected() -> None:
    labels, good = two_tags(20)
    bad = 1 - good

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=bad, active_scores=good[:, ::-1],
                    active_tags=["b", "a"], **RULES)  # fmt: skip

    assert not verdict.accepted and "is worse" in verdict.reason
    assert verdict.numbers["shared_tags"] == 2 and verdict.numbers["difference"]["high"] < 0


def test_the_active_model_is_compared_only_on_photos_it_never_trained_on() -> None:
    labels, scores = two_tags(20)
    # The active model is perfect on the photos it learnt from, and as good as the candidate on new ones.
    active = scores.copy()
    seen = np.arange(40) % 2 == 0
    active[seen] = labels[seen]

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=scores, active_scores=active,
                    active_tags=["a", "b"], unseen_by_active=~seen, **RULES)  # fmt: skip

    assert verdict.accepted, verdict.reason
    assert verdict.numbers["compared_photos"] == 20 and verdict.numbers["difference"]["value"] == 0


def test_a_new_tag_that_learnt_nothing_is_held_back_and_the_tags_that_are_ready_are_published() -> None:
    labels, scores = two_tags(20)
    shuffled = scores.copy()
    shuffled[:, 1] = np.random.default_rng(0).permutation(scores[:, 1])  # "b" learnt nothing

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=shuffled, active_scores=scores[:, :1],
                    active_tags=["a"], **{**RULES, "min_map": 0.8})  # fmt: skip

    assert verdict.accepted, verdict.reason
    assert (
        verdict.held_back == ("b",)
        and "held back until they reach 0.800 on their own: b AP" in verdict.reason
    )
    assert verdict.numbers["judged_alone"]["b"]["low"] < 0.8 and list(verdict.numbers["held_back"]) == ["b"]


def test_each_new_tag_is_judged_on_its_own_so_a_weak_one_cannot_hide_behind_strong_ones() -> None:
    rng = np.random.default_rng(1)
    labels = np.zeros((120, 4))
    for t in range(4):
        labels[t * 30 : (t + 1) * 30, t] = 1
    scores = np.clip(labels * 0.8 + rng.normal(0.1, 0.1, labels.shape), 0, 1)
    scores[:, 3] = rng.permutation(scores[:, 3])  # "d" learnt nothing; pooled with a, b, c it passes

    verdict = judge(labels=labels, tags=["a", "b", "c", "d"], candidate_scores=scores, active_scores=None,
                    active_tags=[], **RULES)  # fmt: skip

    assert verdict.accepted and verdict.numbers["candidate_map"]["low"] >= 0.5
    assert verdict.held_back == ("d",)
    assert set(verdict.numbers["judged_alone"]) == {"a", "b", "c", "d"}


def test_with_too_few_new_photos_to_compare_the_candidate_is_judged_on_its_own() -> None:
    labels, scores = two_tags(20)

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=scores, active_scores=labels,
                    active_tags=["a", "b"], unseen_by_active=np.zeros(40, dtype=bool), **RULES)  # fmt: skip

    assert verdict.accepted and verdict.numbers["compared_with_active"] is False
    assert "by its lower bound" in verdict.reason


def test_a_rejected_candidate_names_the_tags_it_holds_back_so_activating_it_by_hand_leaves_them_out() -> None:
    labels, good = two_tags(20)
    bad = good.copy()
    bad[:, 0] = 1 - good[:, 0]  # worse than the active model on "a"
    bad[:, 1] = np.random.default_rng(0).permutation(good[:, 1])  # and "b" learnt nothing

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=bad, active_scores=good[:, :1],
                    active_tags=["a"], **{**RULES, "min_map": 0.8})  # fmt: skip

    assert not verdict.accepted and "is worse" in verdict.reason
    assert verdict.held_back == ("b",) and "held back" in verdict.reason


def test_a_tag_the_active_model_serves_is_never_held_back_for_lack_of_new_photos() -> None:
    labels, scores = two_tags(20)
    unseen = np.zeros(40, dtype=bool)
    unseen[:20] = True  # only photos of "a" were labelled since the active model was trained
    noisy = scores.copy()
    noisy[:, 1] = np.random.default_rng(0).permutation(scores[:, 1])

    verdict = judge(labels=labels, tags=["a", "b"], candidate_scores=noisy, active_scores=scores,
                    active_tags=["a", "b"], unseen_by_active=unseen, **{**RULES, "min_map": 0.9})  # fmt: skip

    assert verdict.numbers["compared_with_active"] is True and verdict.numbers["shared_tags"] == 1
    assert verdict.held_back == ()


def test_the_pooled_interval_from_shared_resamples_is_the_one_a_bootstrap_of_its_own_gives() -> None:
    labels, scores = two_tags(80, noise=0.45)

    shared = Resampled.draw(labels, scores, resamples=100).pooled()

    assert shared == bootstrap_map(labels, scores, resamples=100)
