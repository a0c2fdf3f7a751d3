"""The gate's bootstrap reads each resample's AP from one ranking per tag, without sorting again."""

from __future__ import annotations

import numpy as np

from trainer.metrics import Ranked, per_tag_average_precision


def test_a_resamples_ap_from_the_ranking_equals_the_ap_of_the_resampled_photos_sorted_again() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((500, 6)) < 0.1).astype(np.float32)
    labels[:, 5] = 0  # a tag with no positive at all
    scores = (rng.random((500, 6)) + 0.3 * labels).astype(np.float32)
    ranked = Ranked(scores, labels)
    for _ in range(5):
        # Sorted draws put a photo's copies side by side, as the ranking's blocks do.
        rows = np.sort(rng.integers(0, 500, 500))
        expected = per_tag_average_precision(scores[rows], labels[rows])
        found = ranked.average_precisions(np.bincount(rows, minlength=500))
        assert np.allclose(found[:5], np.array(expected[:5], dtype=float)) and np.isnan(found[5])
    whole = np.array(per_tag_average_precision(scores, labels)[:5], dtype=float)
    assert np.allclose(ranked.average_precisions()[:5], whole)


def test_a_resample_that_draws_no_positive_of_a_tag_says_nothing_about_it() -> None:
    labels = np.array([[1.0], [0.0], [0.0]])
    ranked = Ranked(np.array([[0.9], [0.5], [0.1]]), labels)

    assert np.isnan(ranked.average_precisions(np.array([0, 2, 1]))[0])
    assert ranked.average_precisions(np.array([3, 0, 0]))[0] == 1.0
