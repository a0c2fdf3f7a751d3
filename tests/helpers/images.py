"""Tiny images made in memory."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
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


# Kinds of photo a model can learn apart: each dominated by one colour channel.
KINDS = {"reds": 0, "greens": 1, "blues": 2}


def photo_of_kind(kind: str, seed: int) -> bytes:
    """A noisy photo dominated by one colour channel: visually distinct kinds, every file unique."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 90, (96, 128, 3), dtype=np.uint8)
    pixels[..., KINDS[kind]] = rng.integers(170, 256, (96, 128), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((256, 192)).save(out, format="JPEG", quality=90)
    return out.getvalue()
