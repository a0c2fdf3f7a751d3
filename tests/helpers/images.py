"""Tiny images made in memory."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] | int = (200, 40, 40),
    mode: str = "RGB",
    **save_args: Any,
) -> bytes:
    """A tiny image in memory; different colours give different content hashes."""
    image = Image.new(mode, size, color)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, format=fmt, **save_args)
    return out.getvalue()
