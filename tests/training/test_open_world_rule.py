"""Which unlabelled photos stand for "none of these" (trainer/open_world.py)."""

from __future__ import annotations

import numpy as np

from trainer.open_world import unlike_every_tag


def test_background_photos_like_a_taught_tag_are_left_out_and_others_kept() -> None:
    rng = np.random.default_rng(0)
    dress = rng.normal(0, 1, 64)
    positives = np.stack([dress + rng.normal(0, 0.5, 64) for _ in range(20)])
    folds = np.arange(20) % 5
    untagged_dress = dress + rng.normal(0, 0.5, 64)
    boot = rng.normal(0, 1, 64)  # another kind altogether

    keep = unlike_every_tag(np.stack([untagged_dress, boot]), [(positives, folds)], quantile=0.2)

    assert keep.tolist() == [False, True]


def test_a_tag_with_its_positives_in_one_fold_draws_no_line() -> None:
    rng = np.random.default_rng(1)
    positives = rng.normal(0, 1, (3, 8))

    keep = unlike_every_tag(positives.copy(), [(positives, np.zeros(3, dtype=int))], quantile=0.2)

    assert keep.all()
