"""Model bundles made by hand for tests, and what the day-zero model calls a cat."""

from __future__ import annotations

from pathlib import Path

import torch

from trainer import bundle
from trainer.backbones import DEFAULT_BACKBONE, get_backbone
from trainer.manifest import BackboneRef, HeadSpec, Manifest

CAT_CLASSES = {"tabby", "tiger_cat", "persian_cat", "siamese_cat", "egyptian_cat"}


def publish_head(
    models_dir: Path,
    version: int,
    tags: list[str],
    bias: list[float],
    *,
    fallback_version: int | None = None,
    gate: dict[str, object] | None = None,
) -> None:
    """A trained-style bundle: a sigmoid head whose biases decide the scores, with the day-zero
    version it falls back on, if any."""
    weight = torch.zeros(len(tags), 1280)
    manifest = Manifest(
        version=version,
        backbone=BackboneRef(id=DEFAULT_BACKBONE, embedding_dim=1280),
        preprocessing=get_backbone(DEFAULT_BACKBONE).preprocessing,
        head=HeadSpec(kind="sigmoid"),
        tags=tags,
        thresholds=[0.5] * len(tags),
        parent_version=0,
        fallback_version=fallback_version,
        gate=gate,
    )
    bundle.publish(models_dir, manifest, head={"weight": weight, "bias": torch.tensor(bias)})
