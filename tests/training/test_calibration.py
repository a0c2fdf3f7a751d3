"""Platt scaling of a tag's out-of-fold logits: a probability people can sort by."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.training import PLATT_MIN_SCALE, RIDGE, platt_scaling


def separable_logits(seed: int, offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold logits of a tag whose positives and negatives barely overlap, shifted as a
    head's logits are when the tag is rare: the case where plain Newton steps overshoot."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(offset + 5, 1, 25), rng.normal(offset - 5, 1, 300)])
    labels = np.concatenate([np.ones(25), np.zeros(300)])
    weights = np.concatenate([np.ones(25), np.full(300, 0.5)])  # implicit negatives weigh half
    return z[:, None], labels[:, None], weights[:, None]


def penalised_loss(a: float, b: float, z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    u = a * z + b
    return float((w * (np.logaddexp(0, u) - y * u)).sum() + 0.5 * (a - 1) ** 2 + RIDGE / 2 * b**2)


@pytest.mark.parametrize("offset", [-8.0, 0.0, 7.0, 9.0])
def test_nearly_separable_logits_calibrate_to_low_scores_on_negatives_and_high_on_positives(
    offset: float,
) -> None:
    z, labels, weights = separable_logits(seed=3, offset=offset)
    scale, shift = platt_scaling(z, labels, weights)
    p = 1 / (1 + np.exp(-(scale * z + shift)))[:, 0]
    assert p[labels[:, 0] == 0].mean() < 0.05
    assert p[labels[:, 0] == 1].mean() > 0.9


def test_the_calibration_is_the_minimum_of_its_loss_and_never_reverses_a_ranking() -> None:
    z, labels, weights = separable_logits(seed=5, offset=9.0)
    (a,), (b,) = platt_scaling(z, labels, weights)
    assert a >= PLATT_MIN_SCALE
    best = penalised_loss(a, b, z[:, 0], labels[:, 0], weights[:, 0])
    for da, db in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        if a + da >= PLATT_MIN_SCALE:
            assert penalised_loss(a + da, b + db, z[:, 0], labels[:, 0], weights[:, 0]) >= best


def test_a_tag_with_only_positives_keeps_the_heads_own_scale() -> None:
    z = np.array([[1.0], [2.0], [3.0]])
    scale, shift = platt_scaling(z, np.ones((3, 1)), np.ones((3, 1)))
    assert (scale, shift) == (np.ones(1), np.zeros(1))


def test_logits_that_run_against_the_labels_keep_the_smallest_slope_and_the_base_rate() -> None:
    rng = np.random.default_rng(2)
    labels = (rng.random(400) < 0.3).astype(float)
    z = np.where(labels == 1, -2.0, 2.0) + rng.normal(0, 1, 400)  # the head ranks them backwards

    (a,), (b,) = platt_scaling(z[:, None], labels[:, None], np.ones((400, 1)))

    p = 1 / (1 + np.exp(-(a * z + b)))
    assert a == PLATT_MIN_SCALE  # never reverses the ranking
    assert abs(p.mean() - labels.mean()) < 0.05  # and says "as often as the tag is right"
