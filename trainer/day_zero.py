"""Version 0: before anyone has tagged anything, the backbone's own ImageNet classifier tags
uploads with readable names, so the site is useful from the first minute."""

from __future__ import annotations

from pathlib import Path

from trainer import bundle
from trainer.backbones import DEFAULT_BACKBONE, get_backbone
from trainer.imagenet import imagenet_tags
from trainer.manifest import BackboneRef, HeadSpec, Manifest

DAY_ZERO_VERSION = 0
# Softmax probabilities over 1,000 classes: 0.15 keeps the two or three classes a photo really
# shows and drops the long tail.
DAY_ZERO_THRESHOLD = 0.15


def publish_day_zero(
    models_dir: Path, backbone_id: str = DEFAULT_BACKBONE, version: int = DAY_ZERO_VERSION
) -> int:
    """The backbone's ImageNet classifier as a bundle: version 0 on a new site, a later version
    for each backbone a running site switches to (the fallback of that backbone's trained heads)."""
    spec = get_backbone(backbone_id)
    backbone = spec.build()
    tags, class_to_tag = imagenet_tags()
    manifest = Manifest(
        version=version,
        backbone=BackboneRef(id=spec.id, embedding_dim=spec.embedding_dim),
        preprocessing=spec.preprocessing,
        head=HeadSpec(kind="softmax_classes", class_to_tag=tuple(class_to_tag)),
        tags=tags,
        thresholds=[DAY_ZERO_THRESHOLD] * len(tags),
        description=f"{spec.description}: its ImageNet classes as tags",
    )
    classifier = backbone.classifier
    bundle.publish(models_dir, manifest, head={"weight": classifier.weight, "bias": classifier.bias})
    return version


def ensure_active_model(models_dir: Path, backbone_id: str = DEFAULT_BACKBONE) -> int:
    """On first start: publish version 0 on ``backbone_id`` and activate it. Afterwards: the
    active version, untouched (whatever backbone it stands on). Safe when several processes start
    at once (the rename lets one publisher win)."""
    current = bundle.current_version(models_dir)
    if current is not None:
        return current
    if DAY_ZERO_VERSION not in bundle.list_versions(models_dir):
        try:
            publish_day_zero(models_dir, backbone_id)
        except bundle.BundleError:
            if DAY_ZERO_VERSION not in bundle.list_versions(models_dir):
                raise
    bundle.activate(models_dir, DAY_ZERO_VERSION)
    return DAY_ZERO_VERSION
