"""Training a multi-label head on stored backbone embeddings: seconds, not a pass over images.

Labels come as a matrix: 1 for a tag people vouched for, 0 for an explicit rejection or a tag
the photo was not given, with a weight per label (0 ignores it). Rare and frequent tags are
rebalanced with a square-root positive weight (the lesson of hashtag pre-training); training stops
early on validation mAP, and per-tag thresholds are chosen on the validation photos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from trainer.metrics import CurvePoint, choose_thresholds, evaluate, mean_average_precision


@dataclass
class LabelledSet:
    embeddings: np.ndarray  # (photos, dim) float32
    labels: np.ndarray  # (photos, tags) 0/1
    weights: np.ndarray  # (photos, tags) >= 0
    validation: np.ndarray  # (photos,) bool
    tags: list[str]

    def split(self, validation: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self.validation if validation else ~self.validation
        return self.embeddings[rows], self.labels[rows], self.weights[rows]


@dataclass
class TrainedHead:
    weight: torch.Tensor
    bias: torch.Tensor
    thresholds: np.ndarray
    metrics: dict[str, Any]
    curves: list[CurvePoint] = field(default_factory=list)
    epochs_run: int = 0


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
    """One point of a run's curves: training loss and validation mAP, micro and macro F1."""
    micro, macro = f1_scores(val_scores, y_val)
    return {"epoch": epoch, "loss": round(loss, 5), "map": round(val_map, 4),
            "micro_f1": round(micro, 4), "macro_f1": round(macro, 4)}  # fmt: skip


def rebalancing_weights(labels: torch.Tensor) -> torch.Tensor:
    """Square-root rebalancing: a rare tag's positives count more, without drowning the rest."""
    positives = labels.sum(dim=0)
    negatives = len(labels) - positives
    return torch.sqrt(negatives.clamp(min=1) / positives.clamp(min=1))


def train_head(
    data: LabelledSet,
    *,
    max_epochs: int = 150,
    patience: int = 15,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainedHead:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, w_train = (torch.from_numpy(a.astype(np.float32)) for a in data.split(validation=False))
    x_val, y_val, _ = data.split(validation=True)
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("training needs photos on both sides of the split")
    pos_weight = rebalancing_weights(y_train)
    head = nn.Linear(data.embeddings.shape[1], len(data.tags))
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
    x_val_t = torch.from_numpy(x_val.astype(np.float32))

    best_map, best_state, stale = -1.0, None, 0
    best_scores = np.empty(0)
    curves: list[CurvePoint] = []
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        head.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = torch.from_numpy(order[start : start + batch_size])
            loss = (loss_fn(head(x_train[rows]), y_train[rows]) * w_train[rows]).sum() / w_train[
                rows
            ].sum().clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        head.eval()
        with torch.no_grad():
            val_scores = torch.sigmoid(head(x_val_t)).numpy()
        val_map = mean_average_precision(val_scores, y_val)
        record = epoch_record(epoch, total / len(x_train), val_scores, y_val, val_map)
        curves.append(record)
        if progress:
            progress(epoch, max_epochs, record)
        if val_map > best_map + 1e-4:
            best_map, stale, best_scores = val_map, 0, val_scores
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    assert best_state is not None
    head.load_state_dict(best_state)
    val_scores = best_scores  # what the kept head scored when it was the best
    thresholds = choose_thresholds(val_scores, y_val)
    return TrainedHead(
        weight=head.weight.detach().clone(),
        bias=head.bias.detach().clone(),
        thresholds=thresholds,
        metrics=evaluate(val_scores, y_val, thresholds, data.tags),
        curves=curves,
        epochs_run=epoch,
    )


def sigmoid_scores(weight: torch.Tensor, bias: torch.Tensor, embeddings: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = torch.from_numpy(embeddings.astype(np.float32)) @ weight.float().T + bias.float()
        return torch.sigmoid(logits).numpy()


def with_pseudo_labels(
    data: LabelledSet, unlabelled: np.ndarray, teacher_scores: np.ndarray, *, confidence: float, weight: float
) -> tuple[LabelledSet, int]:
    """The teacher/student step: unlabelled photos the teacher is confident about join the
    training side (never validation, which stays human-labelled) with a capped weight. A photo
    joins when some tag scores at least ``confidence``; those tags are its positives, the rest
    weak negatives. Returns the enlarged set and how many photos joined."""
    positive = teacher_scores >= confidence
    keep = positive.any(axis=1)
    labels = positive[keep].astype(np.float32)
    weights = np.where(labels == 1, weight, weight / 2).astype(np.float32)
    joined = int(keep.sum())
    return (
        LabelledSet(
            embeddings=np.concatenate([data.embeddings, unlabelled[keep]]),
            labels=np.concatenate([data.labels, labels]),
            weights=np.concatenate([data.weights, weights]),
            validation=np.concatenate([data.validation, np.zeros(joined, dtype=bool)]),
            tags=data.tags,
        ),
        joined,
    )
