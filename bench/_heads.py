"""The two heads the training benchmark compares on the same embeddings, and how people's labels
are sampled for a learning-curve point.

- ``product_scores``: the product's head, trained as a training run trains it. It is the only
  place a benchmark touches ``trainer.training``, so when the trainer's API changes this one
  function is re-pointed and every figure follows.
- ``baseline_scores``: a plain probe, scikit-learn's softmax ``LogisticRegression`` (C=1), the
  baseline the issue names: what the embeddings alone allow.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from trainer.folds import fold_of

# The trainer's default (api/settings.py): TRAIN_IMPLICIT_NEGATIVE_WEIGHT.
IMPLICIT_NEGATIVE_WEIGHT = 0.5
# lbfgs on 1280-d float embeddings needs more than scikit-learn's 100 iterations to converge on
# the full train split (a ConvergenceWarning at 100); 5,000 leaves ample room.
BASELINE_MAX_ITER = 5000


def _folds(x: np.ndarray) -> np.ndarray:
    """The product's folds come from a hash of each photo's group (``labels.group_folds``); the
    benchmark has no file here, so it keys each photo by its stored embedding, which is as fixed
    per photo. Photos that share an embedding share a fold, as the product's groups do."""
    rows = np.ascontiguousarray(x, dtype=np.float32)
    return fold_of([hashlib.sha256(row.tobytes()).hexdigest() for row in rows])


def product_scores(
    train_x: np.ndarray, train_labels_onehot: np.ndarray, test_x: np.ndarray, tags: list[str], seed: int
) -> np.ndarray:
    """Test scores (photos x tags) of the head a training run would publish from these labels:
    each photo positive for its one tag (weight 1, as its owner's tag) and an implicit negative
    for the others (weight 0.5), every photo validated once in the product's 5 folds. No
    background photos: the learning curve is the closed vocabulary (bench_open_world measures
    the open world)."""
    from trainer.training import LabelledSet, sigmoid_scores, train_head

    labels = train_labels_onehot.astype(np.float32)
    weights = np.where(labels == 1, 1.0, IMPLICIT_NEGATIVE_WEIGHT).astype(np.float32)
    data = LabelledSet(train_x.astype(np.float32), labels, weights, _folds(train_x), tags)
    head = train_head(data, progress=lambda *_: None)
    return sigmoid_scores(head.weight, head.bias, test_x.astype(np.float32))


def baseline_scores(
    train_x: np.ndarray, train_labels_onehot: np.ndarray, test_x: np.ndarray, tags: list[str], seed: int
) -> np.ndarray:
    """Class probabilities of a softmax logistic regression fitted on every sampled photo (a probe
    needs no validation side: C is fixed at 1)."""
    from sklearn.linear_model import LogisticRegression

    probe: Any = LogisticRegression(C=1.0, max_iter=BASELINE_MAX_ITER, random_state=seed)
    probe.fit(train_x, train_labels_onehot.argmax(axis=1))
    scores = np.zeros((len(test_x), len(tags)), dtype=np.float32)
    scores[:, probe.classes_] = probe.predict_proba(test_x)
    return scores


METHODS = {"product": product_scores, "baseline": baseline_scores}


def sample_per_tag(classes: np.ndarray, tags: list[str], per_tag: int | None, seed: int) -> np.ndarray:
    """Rows of the train split that play people's labels: ``per_tag`` photos of each tag drawn
    with ``seed`` (every photo when None), in the split's order."""
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    for tag in tags:
        members = np.flatnonzero(classes == tag)
        take = len(members) if per_tag is None else min(per_tag, len(members))
        rows += rng.choice(members, size=take, replace=False).tolist()
    return np.array(sorted(rows))


def onehot(classes: np.ndarray, tags: list[str]) -> np.ndarray:
    return (classes[:, None] == np.array(tags)[None, :]).astype(np.float32)


def top1(scores: np.ndarray, classes: np.ndarray, tags: list[str]) -> float:
    return float((np.array(tags)[scores.argmax(axis=1)] == classes).mean())
