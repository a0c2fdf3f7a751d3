"""Training a multi-label head on stored backbone embeddings, with every labelled photo validated
once: seconds, not a pass over images.

Labels come as a matrix: 1 for a tag people vouched for, 0 for an explicit rejection or a tag the
photo was not given, with a weight per label (0 ignores it). Rows with no positive at all are the
open world: photos of kinds outside the vocabulary, negatives for every tag. Rows that are not
``judged`` (photos nobody labelled, weak negatives) train but are never scored: nobody knows
their truth.

The recipe (docs/architecture.md, 'The training pipeline and its gate'):
- The photos are split into ``k`` folds by group (near-duplicates share a fold). ``k`` fold heads,
  each trained without its fold, and one head on every photo are trained side by side (weighted
  logistic regression, L-BFGS); after each epoch the fold heads score the photos they never saw
  (the out-of-fold scores). Training runs to convergence (the problem is convex); the all-photo
  head is the one published, the out-of-fold scores are what it is judged by.
- Each tag's scores are calibrated (Platt scaling on the out-of-fold logits of every photo the
  head trained on, background photos at their weight; folded into the head's weights), so a score
  is a probability on the same scale as the day-zero model's, ordering a photo's suggestions by
  score is meaningful, and the probability knows the open world.
- Each tag's threshold is the one with the best F1 on the calibrated out-of-fold scores, never
  below ``MIN_THRESHOLD``: a community suggestion means "more likely than not".
- Rare and frequent tags are rebalanced with a square-root positive weight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from trainer.lbfgs import Problem
from trainer.metrics import CurvePoint, choose_thresholds, evaluate, mean_average_precision

MIN_THRESHOLD = 0.5
# The share of a fit's time budget kept for the head on every photo, after the fold heads.
PUBLISHED_SHARE = 0.25


@dataclass
class LabelledSet:
    embeddings: np.ndarray  # (photos, dim) float32
    labels: np.ndarray  # (photos, tags) 0/1
    weights: np.ndarray  # (photos, tags) >= 0
    folds: np.ndarray  # (photos,) int: the fold a photo is validated in
    tags: list[str]
    # Rows whose labels people gave (scored by the out-of-fold metrics); None: all of them.
    judged: np.ndarray | None = None

    @property
    def judged_rows(self) -> np.ndarray:
        return np.ones(len(self.embeddings), dtype=bool) if self.judged is None else self.judged

    def subset(self, rows: np.ndarray) -> LabelledSet:
        return LabelledSet(self.embeddings[rows], self.labels[rows], self.weights[rows], self.folds[rows],
                           self.tags, self.judged_rows[rows])  # fmt: skip


@dataclass
class TrainedHead:
    weight: torch.Tensor  # calibrated: sigmoid(x @ weight.T + bias) is a probability
    bias: torch.Tensor
    thresholds: np.ndarray
    metrics: dict[str, Any]
    # Calibrated scores of each judged photo by the fold head that never saw it, in row order.
    validation_scores: np.ndarray
    curves: list[CurvePoint] = field(default_factory=list)
    epochs_run: int = 0

    def without(self, tags: list[str], dropped: Collection[str]) -> tuple[TrainedHead, list[str]]:
        """This head without the ``dropped`` tags' columns (the gate held them back), and the
        tags it keeps, in order. Its figures still describe every tag it was trained on."""
        keep = [i for i, tag in enumerate(tags) if tag not in set(dropped)]
        kept = replace(self, weight=self.weight[keep], bias=self.bias[keep], thresholds=self.thresholds[keep],
                       validation_scores=self.validation_scores[:, keep])  # fmt: skip
        return kept, [tags[i] for i in keep]


Progress = Callable[[int, int, dict[str, float]], None]


def f1_scores(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    predicted = scores >= 0.5
    truth = labels == 1
    tp = (predicted & truth).sum(axis=0)
    fp = (predicted & ~truth).sum(axis=0)
    fn = (~predicted & truth).sum(axis=0)
    denominator = 2 * tp + fp + fn
    per_tag = np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
    judged = truth.sum(axis=0) > 0
    micro = float(2 * tp.sum() / max(1, denominator.sum()))
    return micro, float(per_tag[judged].mean()) if judged.any() else 0.0


def epoch_record(
    epoch: int, loss: float, val_scores: np.ndarray, y_val: np.ndarray, val_map: float
) -> dict[str, float]:
    """One point of a run's curves: training loss and out-of-fold mAP, micro and macro F1."""
    micro, macro = f1_scores(val_scores, y_val)
    return {"epoch": epoch, "loss": round(loss, 5), "map": round(val_map, 4),
            "micro_f1": round(micro, 4), "macro_f1": round(macro, 4)}  # fmt: skip


def rebalancing_weights(
    labels: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Square-root rebalancing per head (heads x tags): a rare tag's positives count more,
    without drowning the rest. ``rows`` (heads x photos) says which photos each head trains on;
    negatives count by their ``weights``, so thousands of weak background negatives weigh what
    they are worth, not as many full labels."""
    positives = rows @ labels
    if weights is None:
        negatives = rows.sum(dim=1, keepdim=True) - positives
    else:
        negatives = rows @ ((1 - labels) * weights)
    return torch.sqrt(negatives.clamp(min=1) / positives.clamp(min=1))


def train_head(
    data: LabelledSet,
    *,
    max_epochs: int = 150,
    tolerance: float = 1e-5,
    l2: float = 1.0,
    steps_per_epoch: int = 5,
    chunk: int = 8192,
    min_support: int = 1,
    seconds: float | None = None,
    progress: Progress | None = None,
) -> TrainedHead:
    """Weighted one-vs-rest logistic regression with an L2 penalty (``l2`` / 2 * |W|^2 on the
    summed loss, scikit-learn's C=1), solved by L-BFGS over the whole set: convex, so the same
    labels always give the same head. Training runs until the objective changes by less than
    ``tolerance`` (relative) over an epoch: stopping early on the out-of-fold mAP was tried and
    kept heads from the second epoch, which gave the nearest taught tag to twice as many photos
    of kinds nobody taught (bench/bench_open_world.py). An epoch is ``steps_per_epoch`` L-BFGS
    iterations; rows go through in chunks of ``chunk``, so memory stays bounded on a large
    library. Tags with fewer than ``min_support`` validation positives are left out of the figures,
    as the gate does.

    Two stages, the same optimum: the fold heads first, side by side from zero, then the head on
    every photo starting from their mean, near its own optimum. Never the other way round: a fold
    head started from the all-photo head would start from weights that saw its own fold, and
    unless it ran to convergence its out-of-fold scores would not be out of fold. ``seconds``
    bounds the whole fit, the fold heads getting all but ``PUBLISHED_SHARE`` of it: when it runs
    out, the heads stop where they are and the metrics say ``converged: false``; the gate judges
    the fold heads as they stopped, which never saw their fold. Curve points carry the loss, and
    the out-of-fold mAP while the fold heads train (a ranking, the same before calibration as
    after); the last point carries the run's calibrated figures."""
    folds = np.unique(data.folds)
    judged = data.judged_rows
    if len(folds) < 2 or not judged.any():
        raise ValueError("training needs labelled photos in at least two folds")
    # asarray, not astype: the run's arrays are float32 already, and a copy would double them.
    x = torch.from_numpy(np.ascontiguousarray(data.embeddings, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(data.labels, dtype=np.float32))
    w = torch.from_numpy(np.ascontiguousarray(data.weights, dtype=np.float32))
    fold_index = torch.from_numpy(np.searchsorted(folds, data.folds))
    k = len(folds)
    # rows[h, n]: head h trains on photo n; heads 0..k-1 leave their fold out, head k has all.
    rows = torch.ones(k + 1, len(x))
    rows[:k] = (fold_index[None, :] != torch.arange(k)[:, None]).float()
    pos_weight = rebalancing_weights(y, rows, w)
    dim, n_tags = data.embeddings.shape[1], len(data.tags)
    problem = Problem(x, y, w, rows, pos_weight, l2=l2, chunk=chunk, steps=steps_per_epoch)
    # The whole fit's deadline, and the fold heads', which leaves PUBLISHED_SHARE of it over.
    now = time.monotonic()
    deadline, fold_deadline = (
        (None, None) if seconds is None else (now + seconds, now + (1 - PUBLISHED_SHARE) * seconds)
    )
    curves: list[CurvePoint] = []
    total = 2 * max_epochs

    def report(loss: float, heads: list[int], weight: torch.Tensor, bias: torch.Tensor) -> None:
        record: dict[str, float] = {"epoch": len(curves) + 1, "loss": round(loss, 5)}
        if progress and len(heads) == k:
            oof = _out_of_fold_logits(x, weight, bias, fold_index, k)
            record["map"] = round(mean_average_precision(oof[judged], data.labels[judged]), 4)
        curves.append(record)
        if progress:
            progress(len(curves), total, record)

    alone = problem.fit(list(range(k)), torch.zeros(k, dim, n_tags), torch.zeros(k, n_tags),
                        max_epochs, tolerance, fold_deadline, report)  # fmt: skip
    start = alone.weight.mean(dim=0, keepdim=True), alone.bias.mean(dim=0, keepdim=True)
    everything = problem.fit([k], *start, max_epochs, tolerance, deadline, report)
    oof = _out_of_fold_logits(x, alone.weight, alone.bias, fold_index, k)
    head = _calibrated(data, oof, everything.weight[0].T, everything.bias[0], min_support)
    head.metrics["converged"] = everything.converged and alone.converged
    if curves:
        # The curve ends on exactly what the run reports (the run saves these curves when done).
        curves[-1] = {**curves[-1], **{key: head.metrics[key] for key in ("map", "micro_f1", "macro_f1")}}
    head.curves, head.epochs_run = curves, len(curves)
    return head


def _calibrated(
    data: LabelledSet, oof: np.ndarray, weight: torch.Tensor, bias: torch.Tensor, min_support: int
) -> TrainedHead:
    """The all-photo head with each tag calibrated and thresholded on the out-of-fold logits, and
    the out-of-fold figures it is judged by."""
    judged = data.judged_rows
    # Calibrated on every photo the head trained on, background included at its weight: fitted on
    # the labelled photos alone, a tag's probability only knows the other taught kinds, and photos
    # of kinds nobody taught got the nearest taught tag (bench_open_world: 34% of untaught photos
    # got a community tag, 9% calibrated this way). Thresholds and figures stay on judged photos.
    scale_t, shift_t = platt_scaling(oof, data.labels, data.weights)
    calibrated = _sigmoid(oof[judged] * scale_t + shift_t)
    thresholds = np.maximum(
        choose_thresholds(calibrated, data.labels[judged], default=MIN_THRESHOLD), MIN_THRESHOLD
    )
    scale = torch.from_numpy(scale_t.astype(np.float32))
    shift = torch.from_numpy(shift_t.astype(np.float32))
    return TrainedHead(
        weight=weight.clone() * scale[:, None],
        bias=bias.clone() * scale + shift,
        thresholds=thresholds.astype(np.float32),
        metrics=evaluate(calibrated, data.labels[judged], thresholds, data.tags, min_support=min_support),
        validation_scores=calibrated,
    )


def _out_of_fold_logits(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, fold_index: torch.Tensor, folds: int
) -> np.ndarray:
    """Each photo's logits by the fold head that never saw it."""
    out = torch.empty(len(x), weight.shape[2])
    with torch.no_grad():
        for f in range(folds):
            mine = fold_index == f
            out[mine] = x[mine] @ weight[f] + bias[f]
    return out.numpy()


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


def platt_scaling(
    logits: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, iterations: int = 50, prior: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per tag, ``a`` and ``b`` such that sigmoid(a * logit + b) matches how often the tag is
    right on photos the head never saw: the weighted log loss plus a weak prior pulling ``a``
    towards 1, so a tag with a handful of photos keeps roughly the head's own scale (``b`` is free:
    a fold head's logits may sit far from 0, and pulling ``b`` to 0 would skew every score). ``a``
    never goes below ``PLATT_MIN_SCALE``, so calibration cannot reverse a ranking.

    Newton steps are halved until the penalised loss goes down: on nearly separable out-of-fold
    logits a full step overshoots, and plain Newton falls into a cycle that ends on a tag scoring
    about 1.0 on every photo."""
    tags = logits.shape[1]
    scale, shift = np.ones(tags), np.zeros(tags)
    for t in range(tags):
        mask = weights[:, t] > 0
        z = logits[mask, t].astype(np.float64)
        target = labels[mask, t].astype(np.float64)
        w = weights[mask, t].astype(np.float64)
        if len(z) == 0 or target.min() == target.max():
            continue
        scale[t], shift[t] = _platt_one(z, target, w, iterations=iterations, prior=prior)
    return scale, shift


PLATT_MIN_SCALE = 0.05
RIDGE = 1e-6  # keeps the Newton system solvable when every score saturates


def _platt_one(
    z: np.ndarray, target: np.ndarray, w: np.ndarray, *, iterations: int, prior: float
) -> tuple[float, float]:
    def loss(a: float, b: float) -> float:
        u = a * z + b
        # log(1 + e^u) - y u, written so a large |u| neither overflows nor loses the small term.
        return float(
            (w * (np.logaddexp(0.0, u) - target * u)).sum() + prior / 2 * (a - 1) ** 2 + RIDGE / 2 * b**2
        )

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -60, 60)))
        r, s = w * (p - target), w * p * (1 - p)
        g = np.array([(r * z).sum() + prior * (a - 1), r.sum() + RIDGE * b])
        h = np.array([[(s * z * z).sum() + prior, (s * z).sum()], [(s * z).sum(), s.sum() + RIDGE]])
        step = np.linalg.solve(h, g)
        if a <= PLATT_MIN_SCALE and step[0] > 0:
            # Pinned at the floor and pushed further down: the minimum along the floor is the
            # one-dimensional Newton step in b alone (the coupled one would leave b off it).
            step = np.array([0.0, g[1] / h[1, 1]])
        size = 1.0
        while size > 1e-4:
            a_new, b_new = max(a - size * step[0], PLATT_MIN_SCALE), b - size * step[1]
            trial = loss(a_new, b_new)
            if trial <= current:
                break
            size /= 2
        else:
            break  # no step lowers the loss: (a, b) is the minimum within rounding
        moved = max(abs(a_new - a), abs(b_new - b))
        a, b, current = a_new, b_new, trial
        if moved < 1e-7:
            break
    return a, b


def sigmoid_scores(weight: torch.Tensor, bias: torch.Tensor, embeddings: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = torch.from_numpy(embeddings.astype(np.float32)) @ weight.float().T + bias.float()
        return torch.sigmoid(logits).numpy()


def with_pseudo_labels(
    data: LabelledSet, unlabelled: np.ndarray, teacher_scores: np.ndarray, *, confidence: float, weight: float
) -> tuple[LabelledSet, int]:
    """The teacher/student step: unlabelled photos the teacher is confident about join the
    training side with a capped weight; they are never judged (validation stays human-labelled).
    A photo joins when some tag scores at least ``confidence``; those tags are its positives, the
    rest weak negatives. Each joins a fold at random, like any photo, so the fold heads see it in
    training as the published head does. Returns the enlarged set and how many photos joined."""
    positive = teacher_scores >= confidence
    keep = positive.any(axis=1)
    labels = positive[keep].astype(np.float32)
    weights = np.where(labels == 1, weight, weight / 2).astype(np.float32)
    joined = int(keep.sum())
    rng = np.random.default_rng(0)
    return (
        LabelledSet(
            embeddings=np.concatenate([data.embeddings, unlabelled[keep]]),
            labels=np.concatenate([data.labels, labels]),
            weights=np.concatenate([data.weights, weights]),
            folds=np.concatenate([data.folds, rng.choice(np.unique(data.folds), size=joined)]),
            tags=data.tags,
            judged=np.concatenate([data.judged_rows, np.zeros(joined, dtype=bool)]),
        ),
        joined,
    )
