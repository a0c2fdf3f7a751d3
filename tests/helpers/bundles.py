"""Model bundles made by hand for tests, and what the day-zero model calls a cat."""

from __future__ import annotations

from pathlib import Path

import torch

from trainer import bundle
from trainer.backbones import DEFAULT_BACKBONE, get_backbone
from trainer.model import HEAD_FILE

CAT_CLASSES = {"tabby", "tiger_cat", "persian_cat", "siamese_cat", "egyptian_cat"}


def publish_head(models_dir: Path, version: int, tags: list[str], bias: list[float], **extra: object) -> None:
    """A trained-style bundle: a sigmoid head whose biases decide the scores."""
    weight = torch.zeros(len(tags), 1280)
    manifest = {
        "version": version,
        "backbone": {"id": DEFAULT_BACKBONE, "embedding_dim": 1280, "weights": "package"},
        "preprocessing": get_backbone(DEFAULT_BACKBONE).preprocessing.to_dict(),
        "head": {"kind": "sigmoid", "file": HEAD_FILE},
        "tags": tags,
        "thresholds": [0.5] * len(tags),
        "metrics": {},
        "parent_version": 0,
        **extra,
    }
    bundle.publish(models_dir, manifest, {HEAD_FILE: {"weight": weight, "bias": torch.tensor(bias)}})
