"""Where photo files live in the shared volume, and how they get there without half-written files.

Layout under ``SHARED_FS``::

    originals/ab/<sha256>.<ext>
    thumbs/grid/ab/<sha256>.jpg
    thumbs/display/ab/<sha256>.jpg
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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


def relative(path: Path) -> str:
    return path.relative_to(root()).as_posix()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename into place, so a reader
    (or a crash, or a full disk) never leaves a partial file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        # mkstemp makes owner-only files; nginx (another user) must be able to read them.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def remove_files(content_hash: str, ext: str) -> None:
    for path in (original_path(content_hash, ext), *(thumb_path(content_hash, s) for s in THUMB_SIZES)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
