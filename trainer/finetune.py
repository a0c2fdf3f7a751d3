"""Fine-tuning the backbone's last blocks together with the head (``TRAINER_FINETUNE=1``).

Meant for a GPU (mixed precision, channels-last there); it runs on the CPU too, slowly. It starts
from the head trained on stored embeddings, so the first epoch already predicts well and the
backbone only has to adapt. Training photos are augmented; validation photos are seen exactly as
the workers will see them (the bundle's preprocessing), and the same metrics, thresholds and
early stopping as head training decide what is kept. Evaluation uses human labels only.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2 as T
from torch import nn

from trainer.backbones import Backbone, get_backbone
from trainer.images import open_for_model
from trainer.inference import build_transform, pick_device
from trainer.manifest import Preprocessing
from trainer.metrics import CurvePoint, choose_thresholds, evaluate, mean_average_precision
from trainer.training import (
    MIN_THRESHOLD,
    LabelledSet,
    Progress,
    TrainedHead,
    epoch_record,
    rebalancing_weights,
)


@dataclass
class FineTuned:
    body_state: dict[str, torch.Tensor]  # the backbone's body, ready for the bundle
    head: TrainedHead
    validation_scores: np.ndarray  # (validation photos, tags), as the published model scores them
    validation_rows: np.ndarray  # which rows of the labelled set those are


def _train_transform(pre: Preprocessing) -> T.Compose:
    return T.Compose(
        [
            T.ToImage(),
            T.RandomResizedCrop(pre.crop, scale=(0.5, 1.0), antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(mean=list(pre.mean), std=list(pre.std)),
        ]
    )


def _trainable_tail(backbone: Backbone, blocks: int) -> list[nn.Parameter]:
    """Freezes the body except its last ``blocks`` stages and what follows them (timm's
    EfficientNet: ``blocks``, ``conv_head``, ``bn2``; other networks: the last children)."""
    body: Any = backbone.body
    for parameter in body.parameters():
        parameter.requires_grad_(False)
    if hasattr(body, "blocks"):
        tail: list[nn.Module] = list(body.blocks)[-blocks:] if blocks else []
        tail += [getattr(body, name) for name in ("conv_head", "bn2") if hasattr(body, name)]
    else:
        tail = list(body.children())[-blocks:] if blocks else []
    trainable = [p for module in tail for p in module.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def finetune(
    *,
    backbone_id: str,
    start: TrainedHead,
    data: LabelledSet,
    files: Sequence[Path],
    epochs: int,
    blocks: int = 2,
    batch_size: int = 32,
    learning_rate: float = 3e-4,
    patience: int = 3,
    device: str = "auto",
    seed: int = 0,
    progress: Progress | None = None,
) -> FineTuned:
    """``files`` are the photos of ``data`` in its row order (its embeddings are not used)."""
    if len(files) != len(data.labels):
        raise ValueError("one file per labelled photo is needed")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    spec = get_backbone(backbone_id)
    pre = spec.preprocessing
    target = pick_device(device)
    cuda = target.type == "cuda"
    backbone = spec.build()
    tail = _trainable_tail(backbone, blocks)
    head = nn.Linear(start.weight.shape[1], start.weight.shape[0])
    head.load_state_dict({"weight": start.weight.float(), "bias": start.bias.float()})
    backbone.body.to(target)
    head.to(target)
    if cuda:
        backbone.body.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    # Decoded once at the model's size: augmentation then works on small images each epoch.
    images = [open_for_model(path, min_side=pre.resize) for path in files]
    # A pass over pixels per fold would cost k times as much: fine-tuning validates on one fold.
    held_out = (data.folds == data.folds.min()) & data.judged_rows
    train_rows = np.flatnonzero(~held_out)
    val_rows = np.flatnonzero(held_out)
    if not len(train_rows) or not len(val_rows):
        raise ValueError("fine-tuning needs photos on both sides of the split")
    labels = torch.from_numpy(data.labels.astype(np.float32))
    weights = torch.from_numpy(data.weights.astype(np.float32))
    loss_fn = nn.BCEWithLogitsLoss(
        reduction="none",
        pos_weight=rebalancing_weights(labels[train_rows], torch.ones(1, len(train_rows)))[0].to(target),
    )
    optimizer = torch.optim.AdamW(
        [{"params": tail, "lr": learning_rate / 10}, {"params": head.parameters(), "lr": learning_rate}],
        weight_decay=1e-4,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    augment, plain = _train_transform(pre), build_transform(pre)

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(target, non_blocking=True)
        if cuda:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with torch.autocast(target.type, dtype=torch.float16, enabled=cuda):
            return head(backbone.embed(pixels)).float()

    def validation_scores() -> np.ndarray:
        backbone.body.eval()
        head.eval()
        out = []
        with torch.inference_mode():
            for begin in range(0, len(val_rows), batch_size):
                rows = val_rows[begin : begin + batch_size]
                out.append(torch.sigmoid(forward(torch.stack([plain(images[i]) for i in rows]))).cpu())
        return torch.cat(out).numpy()

    y_val = data.labels[val_rows]
    best_scores = validation_scores()
    best = (mean_average_precision(best_scores, y_val), 0)
    best_state = (copy.deepcopy(backbone.body.state_dict()), copy.deepcopy(head.state_dict()))
    curves: list[CurvePoint] = []
    stale, epoch = 0, 0
    for epoch in range(1, epochs + 1):
        backbone.body.train()
        # Frozen batch-norm statistics: small batches of a few kinds would skew them.
        for module in backbone.body.modules():
            if isinstance(module, nn.BatchNorm2d) and not any(p.requires_grad for p in module.parameters()):
                module.eval()
        head.train()
        total = 0.0
        order = rng.permutation(train_rows)
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            pixels = torch.stack([augment(images[i]) for i in rows])
            w = weights[rows].to(target)
            loss = (loss_fn(forward(pixels), labels[rows].to(target)) * w).sum() / w.sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += float(loss.detach()) * len(rows)
        scores = validation_scores()
        val_map = mean_average_precision(scores, y_val)
        record = epoch_record(epoch, total / len(train_rows), scores, y_val, val_map)
        curves.append(record)
        if progress:
            progress(epoch, epochs, record)
        if val_map > best[0] + 1e-4:
            best, stale, best_scores = (val_map, epoch), 0, scores
            best_state = (copy.deepcopy(backbone.body.state_dict()), copy.deepcopy(head.state_dict()))
        else:
            stale += 1
            if stale >= patience:
                break

    backbone.body.load_state_dict(best_state[0])
    head.load_state_dict(best_state[1])
    scores = best_scores  # the kept weights' own pass; no second pass over the photos
    thresholds = np.maximum(choose_thresholds(scores, y_val, default=MIN_THRESHOLD), MIN_THRESHOLD)
    metrics = evaluate(scores, y_val, thresholds, data.tags)
    metrics["finetune"] = {"best_epoch": best[1], "blocks": blocks, "device": target.type}
    return FineTuned(
        body_state={k: v.detach().cpu().contiguous() for k, v in backbone.body.state_dict().items()},
        head=TrainedHead(
            weight=head.weight.detach().cpu().clone(),
            bias=head.bias.detach().cpu().clone(),
            thresholds=thresholds,
            metrics=metrics,
            validation_scores=scores,
            curves=curves,
            epochs_run=epoch,
        ),
        validation_scores=scores,
        validation_rows=val_rows,
    )
