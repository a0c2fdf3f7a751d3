"""Fitting the head: the fold heads from zero, then the all-photo head from their mean, within a
time budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from trainer.training import LabelledSet, train_head


def three_kinds(photos: int = 300, seed: int = 0) -> LabelledSet:
    """Photos of three kinds, each labelled with its kind, the other two implicit negatives."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32)).astype(np.float32)
    kind = rng.integers(0, 3, photos)
    embeddings = (centres[kind] + 1.5 * rng.normal(size=(photos, 32))).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[kind]
    weights = np.where(labels == 1, 1.0, 0.5).astype(np.float32)
    return LabelledSet(embeddings, labels, weights, np.arange(photos) % 5, ["a", "b", "c"])


def test_a_head_with_time_to_spare_converges_and_its_curve_ends_on_the_runs_figures() -> None:
    head = train_head(three_kinds(), max_epochs=150, seconds=600, progress=lambda *_: None)

    assert head.metrics["converged"] and 2 <= head.epochs_run < 300
    assert len(head.curves) == head.epochs_run and all("loss" in point for point in head.curves)
    # The fold heads' epochs come first, with out-of-fold figures; the all-photo head's have none.
    assert "map" in head.curves[0] and "map" not in head.curves[-2]
    assert {k: head.curves[-1][k] for k in ("map", "macro_f1")} == {
        k: head.metrics[k] for k in ("map", "macro_f1")
    }
    assert head.metrics["map"] > 0.8


def test_a_head_out_of_time_stops_and_says_it_did_not_converge() -> None:
    head = train_head(three_kinds(), max_epochs=150, seconds=0)

    assert not head.metrics["converged"] and head.epochs_run == 0
    # Still a head with figures, judged on what it is: weights at zero score every photo alike.
    assert head.validation_scores.shape == (300, 3) and np.ptp(head.validation_scores[:, 0]) < 1e-6


def test_a_fold_head_scores_its_fold_as_a_head_fitted_on_the_other_folds_alone_would() -> None:
    data = three_kinds(photos=250, seed=4)
    head = train_head(data, max_epochs=300, tolerance=1e-9)
    # Fold 0's head solves the all-photo problem of the photos outside fold 0: fitted on those
    # alone, that head must rank fold 0's photos as the fold head does. Calibration changes each
    # tag's scale, never its order.
    outside = data.folds != 0
    alone = train_head(data.subset(np.flatnonzero(outside)), max_epochs=300, tolerance=1e-9)
    inside = np.flatnonzero(~outside)
    logits = data.embeddings[inside] @ alone.weight.numpy().T + alone.bias.numpy()
    for tag in range(3):
        ours = np.argsort(np.argsort(head.validation_scores[inside, tag]))
        theirs = np.argsort(np.argsort(logits[:, tag]))
        # The all-photo head, which saw fold 0, ranks it at 0.988-0.995 here: this tells them apart.
        assert np.corrcoef(ours, theirs)[0, 1] > 0.998


def test_the_published_head_reaches_the_same_optimum_whatever_fold_heads_it_started_from() -> None:
    five = three_kinds(photos=250, seed=4)
    two = replace(five, folds=np.arange(250) % 2)  # other fold heads, another mean to start from

    a, b = (train_head(d, max_epochs=300, tolerance=1e-9).weight.numpy() for d in (five, two))

    # Calibration scales each tag's weights; the direction is the optimum's.
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.999
