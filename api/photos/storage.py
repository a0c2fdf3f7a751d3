"""How photo files get onto the shared volume without half-written files, and off it again
(their paths: ``api/volume.py``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from api.volume import THUMB_SIZES, original_path, thumb_path


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
