"""Every path on the shared volume (``SHARED_FS``), the one place that knows its layout::

    originals/ab/<sha256>.<ext>       a photo's file, stored once per content hash
    thumbs/grid/ab/<sha256>.jpg       its thumbnails
    thumbs/display/ab/<sha256>.jpg
    models/<version>/                 model bundles, and models/CURRENT (trainer/bundle.py)

The web process, the tagging workers, the trainer and nginx all see the same volume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from django.conf import settings

ThumbSize = Literal["grid", "display"]
THUMB_SIZES: tuple[ThumbSize, ...] = ("grid", "display")


def root() -> Path:
    return Path(settings.SHARED_FS)


def original_path(content_hash: str, ext: str) -> Path:
    return root() / "originals" / content_hash[:2] / f"{content_hash}.{ext}"


def thumb_path(content_hash: str, size: ThumbSize) -> Path:
    return root() / "thumbs" / size / content_hash[:2] / f"{content_hash}.jpg"


def models_dir() -> Path:
    return root() / "models"


def relative(path: Path) -> str:
    return path.relative_to(root()).as_posix()
