"""Decoding photos for the model: any mode to RGB, upright, and JPEGs decoded at reduced size.

Pillow only (no torch), so the web process can share ``to_rgb`` with the worker.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB for any mode: alpha is laid on white, 16-bit greyscale is scaled, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    return image.convert("RGB")


def jpeg_decoded_whole(data: bytes, min_side: int) -> bool:
    """Whether ``data`` is a colour or greyscale JPEG too small for a reduced-size decode (both
    sides would have to be at least twice ``min_side``). Such a photo is better decoded by
    libjpeg-turbo straight into a tensor than through Pillow and a copy."""
    if data[:2] != b"\xff\xd8":
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            return image.mode in {"RGB", "L"} and min(image.size) < 2 * min_side
    except Exception:  # noqa: BLE001 - not a readable JPEG: Pillow's path reports why
        return False


def open_for_model(source: bytes | str | Path, min_side: int) -> Image.Image:
    """An upright RGB image whose shorter side is at least ``min_side`` where the file allows,
    decoded no larger than needed."""
    image: Image.Image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    if image.format == "JPEG":
        # Decoding, not the network, limits a CPU worker (the tweet-image pipeline's lesson): a
        # 12 MP JPEG decoded at 1/8 scale costs a fraction and is still larger than the input.
        # draft() picks the smallest DCT scale that keeps both sides >= the requested size.
        width, height = image.size
        scale = max(min_side / min(width, height), 1e-6)
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    image.load()
    image = ImageOps.exif_transpose(image) or image
    return to_rgb(image)
