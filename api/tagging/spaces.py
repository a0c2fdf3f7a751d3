"""Which backbone and embedding space the active model stands on, read from the volume's CURRENT
bundle: the space similar photos, re-tagging and a backbone switch are measured against."""

from __future__ import annotations

from api.volume import models_dir
from trainer import bundle
from trainer.manifest import Manifest


def active_manifest() -> Manifest | None:
    folder = models_dir()
    try:
        current = bundle.current_version(folder)
        return None if current is None else bundle.read_manifest(folder, current)
    except bundle.BundleError:
        return None


def serving_backbone() -> str | None:
    """The package backbone under the active model (a fine-tuned one: the backbone it was tuned
    from), or None before any model is published."""
    manifest = active_manifest()
    return None if manifest is None else manifest.backbone.id


def serving_space() -> str | None:
    """The embedding space the active model reads (``efficientnet_lite0``, or
    ``efficientnet_lite0+v7`` for a fine-tuned one)."""
    manifest = active_manifest()
    return None if manifest is None else manifest.embedding_space
