"""Multi-label evaluation: mAP, micro/macro F1, per-tag precision/recall/F1, top-1 accuracy, and
per-tag thresholds chosen on validation data. NumPy only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# One point of a run's curves (loss, mAP, F1 per epoch); fine-tuning's points also say their stage.
CurvePoint = Mapping[str, float | str]


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """AP of one tag: the mean precision at each true positive, ranked by score. None without
    positives (the tag cannot be judged on these photos)."""
    positives = int(labels.sum())
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    hits = labels[order].astype(np.float64)
    precision_at_k = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision_at_k * hits).sum() / positives)


def per_tag_average_precision(scores: np.ndarray, labels: np.ndarray) -> list[float | None]:
    return [average_precision(scores[:, t], labels[:, t]) for t in range(labels.shape[1])]


class Ranked:
    """Each tag's photos ranked by score once, so the AP of a bootstrap resample costs a pass over
    the photos, not a sort per tag per resample (at 30,000 photos x 300 tags, 300 resamples of
    sorts took minutes). A resample is a count per photo: a photo drawn ``c`` times is a block of
    ``c`` copies in the ranking, and the j-th copy of a positive has precision (P + j) / (N + j),
    with P positives and N photos ranked above the block; over the block that sums to
    ``c - (N - P) (H(N + c) - H(N))``, H the harmonic numbers. Only N needs every photo (a running
    sum of the counts in each tag's order); the rest is per positive. Equal to
    ``average_precision`` of the resampled rows, ties among different photos apart (ranked here
    in row order)."""

    COLUMNS = 64  # tags per pass: bounds the temporaries at 64 x photos

    def __init__(self, scores: np.ndarray, labels: np.ndarray) -> None:
        photos, tags = labels.shape
        # One row per tag, its photos best first, so each tag's running sum is contiguous.
        self.order = np.argsort(-scores.T, axis=1, kind="stable").astype(np.int32)
        truth = np.take_along_axis(labels.T == 1, self.order, axis=1)
        self.positive_at = [
            np.flatnonzero(truth[start : start + self.COLUMNS]) for start in range(0, tags, self.COLUMNS)
        ]
        self.harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, photos + 1))])

    def average_precisions(self, counts: np.ndarray | None = None) -> np.ndarray:
        """Each tag's AP on the photos drawn ``counts`` times each (all once: None); NaN for a tag
        with no positive drawn."""
        tags, photos = self.order.shape
        counts = np.ones(photos, dtype=np.int32) if counts is None else counts.astype(np.int32)
        out = np.empty(tags)
        for chunk, start in enumerate(range(0, tags, self.COLUMNS)):
            drawn = counts[self.order[start : start + self.COLUMNS]]
            at = self.positive_at[chunk]
            tag = at // photos  # positives come grouped by tag, best ranked first
            above = (np.cumsum(drawn, axis=1, dtype=np.int64) - drawn).ravel()[at]
            mine = drawn.ravel()[at].astype(np.int64)
            # Positives drawn above each one, within its tag: a running sum restarted at each tag.
            running = np.cumsum(mine) - mine
            first = np.searchsorted(tag, tag)
            hits_above = running - running[first]
            gain = mine - (above - hits_above) * (self.harmonic[above + mine] - self.harmonic[above])
            width = drawn.shape[0]
            drawn_positives = np.bincount(tag, weights=mine, minlength=width)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start : start + width] = np.where(
                    drawn_positives > 0,
                    np.bincount(tag, weights=gain, minlength=width) / drawn_positives,
                    np.nan,
                )
        return out


def mean_of_known(aps: list[float | None]) -> float:
    known = [ap for ap in aps if ap is not None]
    return float(np.mean(known)) if known else 0.0


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    return mean_of_known(per_tag_average_precision(scores, labels))


def choose_thresholds(scores: np.ndarray, labels: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per tag, the threshold with the best F1 on validation photos; ``default`` for a tag
    without validation positives."""
    grid = np.linspace(0.05, 0.95, 19)
    thresholds = np.full(labels.shape[1], default, dtype=np.float32)
    for t in range(labels.shape[1]):
        if labels[:, t].sum() == 0:
            continue
        best, best_f1 = default, -1.0
        for threshold in grid:
            predicted = scores[:, t] >= threshold
            tp = float((predicted & (labels[:, t] == 1)).sum())
            f1 = 2 * tp / (predicted.sum() + labels[:, t].sum())
            if f1 > best_f1:
                best, best_f1 = float(threshold), f1
        thresholds[t] = best
    return thresholds


def evaluate(
    scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, tags: list[str], *, min_support: int = 1
) -> dict[str, Any]:
    """Everything a model version is judged by; ``labels`` is 0/1 of shape (photos, tags). A tag
    with fewer than ``min_support`` positives keeps its row but no AP, and stays out of mAP and
    macro F1: one or two photos say nothing about it."""
    predicted = scores >= thresholds[None, :]
    truth = labels == 1
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    fp = (predicted & ~truth).sum(axis=0).astype(np.float64)
    fn = (~predicted & truth).sum(axis=0).astype(np.float64)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0
    )
    support = truth.sum(axis=0)
    judged = support >= max(1, min_support)
    micro_denominator = 2 * tp.sum() + fp.sum() + fn.sum()
    single = truth.sum(axis=1) == 1
    top1 = (
        float((truth[single].argmax(axis=1) == scores[single].argmax(axis=1)).mean())
        if single.any()
        else None
    )
    # Once: for the mean and for each tag.
    aps = [ap if judged[i] else None for i, ap in enumerate(per_tag_average_precision(scores, labels))]
    return {
        "map": round(mean_of_known(aps), 4),
        "micro_f1": round(float(2 * tp.sum() / micro_denominator) if micro_denominator else 0.0, 4),
        "macro_f1": round(float(f1[judged].mean()) if judged.any() else 0.0, 4),
        "top1_accuracy": round(top1, 4) if top1 is not None else None,
        "photos": int(labels.shape[0]),
        "min_support": int(min_support),
        "too_little_support": [tag for i, tag in enumerate(tags) if not judged[i]],
        "per_tag": {
            tag: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
                "threshold": round(float(thresholds[i]), 3),
                "ap": None if (ap := aps[i]) is None else round(ap, 4),
            }
            for i, tag in enumerate(tags)
        },
    }
