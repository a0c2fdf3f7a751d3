"""Where a photo was taken: reading EXIF GPS, and taking it out of the file we store.

Why the stored original carries no GPS: the original is served to everyone who may see the photo
(and kept by their browsers and any cache on the way), so a location the owner has not chosen to
show must not be in its bytes. The coordinates live only in the database, where the API and the
photo page show them to the owner, or to everyone once the owner allows it. One stored file, not
a private and a public copy, so there is no second file to leak or to keep in step.

How: only metadata is rewritten, never the compressed pixels, so nothing is re-encoded and no
quality is lost. The GPS directory inside the EXIF block is blanked in place: the same number of
bytes, every other offset unchanged, so orientation, date taken and maker notes stay valid. XMP
packets that mention GPS are dropped whole. An EXIF block we cannot walk is dropped whole (a
location we cannot find is one we cannot vouch for). The content hash is of the uploaded bytes,
so uploading the same file again still finds the first copy.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from typing import Any

from PIL import Image

GPS_IFD = 0x8825
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4
# Bytes per value of each TIFF field type.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
# PNG text chunks that hold a copy of the EXIF or XMP block (ImageMagick, Adobe).
_PNG_METADATA_KEYWORDS = {b"Raw profile type exif", b"Raw profile type APP1", b"XML:com.adobe.xmp"}


class _Unwalkable(ValueError):
    """The EXIF block does not hold together; it is dropped instead of trusted."""


# ---------------------------------------------------------------- reading


def _degrees(value: Any) -> float:
    if isinstance(value, tuple | list):
        if len(value) != 3:
            raise ValueError("a GPS coordinate has degrees, minutes and seconds")
        degrees, minutes, seconds = (float(v) for v in value)
        return degrees + minutes / 60 + seconds / 3600
    return float(value)


def gps_coordinates(image: Image.Image) -> tuple[float, float] | None:
    """(latitude, longitude) in degrees from the image's EXIF, or None when absent or nonsense."""
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
        latitude, longitude = _degrees(gps[_LAT]), _degrees(gps[_LON])
    except Exception:  # noqa: BLE001 - a broken GPS block means "no location", not a bad photo
        return None
    if str(gps.get(_LAT_REF, "N")).strip("\x00 ").upper() == "S":
        latitude = -latitude
    if str(gps.get(_LON_REF, "E")).strip("\x00 ").upper() == "W":
        longitude = -longitude
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return round(latitude, 7), round(longitude, 7)


def has_gps(data: bytes) -> bool:
    """Whether a reader would still find GPS in ``data``; a file that no longer opens counts."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(image.getexif().get_ifd(GPS_IFD))
    except Exception:  # noqa: BLE001 - unreadable after our rewrite: refuse rather than guess
        return True


# ---------------------------------------------------------------- removing


def _blank_gps_directory(tiff: bytearray) -> None:
    """Zero the GPS directory of a TIFF/EXIF structure in place and leave it with no entries."""
    if tiff[:4] == b"MM\x00*":
        order = ">"
    elif tiff[:4] == b"II*\x00":
        order = "<"
    else:
        raise _Unwalkable("not a TIFF header")

    def read(fmt: str, offset: int) -> int:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(tiff):
            raise _Unwalkable("an offset points outside the block")
        return int(struct.unpack_from(order + fmt, tiff, offset)[0])

    ifd0 = read("I", 4)
    for index in range(read("H", ifd0)):
        entry = ifd0 + 2 + 12 * index
        if read("H", entry) != GPS_IFD:
            continue
        gps = read("I", entry + 8)
        count = read("H", gps)
        end = gps + 2 + 12 * count
        read("I", end)  # the next-directory pointer must be inside the block too
        for field in range(count):
            at = gps + 2 + 12 * field
            size = _TYPE_SIZES.get(read("H", at + 2))
            if size is None:
                raise _Unwalkable("unknown field type in the GPS directory")
            total = size * read("I", at + 4)
            if total > 4:
                offset = read("I", at + 8)
                read("B", offset + total - 1)
                tiff[offset : offset + total] = bytes(total)
        # No entries and, right after the count, a zero "next directory": a valid empty directory.
        tiff[gps : end + 4] = bytes(end + 4 - gps)
        return


def _blanked_exif(payload: bytes, prefix: bytes = b"") -> bytes | None:
    """The EXIF payload (after ``prefix``) with its GPS blanked; None when it must be dropped."""
    tiff = bytearray(payload[len(prefix) :])
    try:
        _blank_gps_directory(tiff)
    except _Unwalkable:
        return None
    return prefix + bytes(tiff)


def _jpeg_without_location(data: bytes) -> bytes:
    out = [data[:2]]
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            out.append(data[pos : pos + 1])
            pos += 1
            continue
        if marker in (0xDA, 0xD9) or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            break  # the scan: pixels from here on, copied untouched
        length = struct.unpack_from(">H", data, pos + 2)[0]
        segment = data[pos : pos + 2 + length]
        payload = segment[4:]
        pos += 2 + length
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER):
            blanked = _blanked_exif(payload, _EXIF_HEADER)
            if blanked is None:
                continue
            segment = segment[:4] + blanked
        elif marker == 0xE1 and payload.startswith(_XMP_HEADERS) and b"GPS" in payload:
            continue
        out.append(segment)
    out.append(data[pos:])
    return b"".join(out)


def _blanked_exif_chunk(payload: bytes) -> bytes | None:
    """A PNG or WebP EXIF chunk: the TIFF block, with or without JPEG's "Exif" header before it."""
    return _blanked_exif(payload, _EXIF_HEADER if payload.startswith(_EXIF_HEADER) else b"")


def _split_chunks(data: bytes, pos: int, *, riff: bool) -> tuple[list[tuple[bytes, bytes, bytes]], bytes]:
    """The chunks from ``pos`` on as (kind, payload, the whole chunk), and what follows the last
    one. PNG frames a chunk as length (big-endian), kind, payload, CRC; RIFF (WebP) as kind,
    length (little-endian), payload padded to an even size."""
    chunks = []
    while pos + (8 if riff else 12) <= len(data):
        if riff:
            kind, length = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
            size = 8 + length + (length & 1)
        else:
            length, kind = struct.unpack_from(">I", data, pos)[0], data[pos + 4 : pos + 8]
            size = 12 + length
        chunks.append((kind, data[pos + 8 : pos + 8 + length], data[pos : pos + size]))
        pos += size
    return chunks, data[pos:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_without_location(data: bytes) -> bytes:
    chunks, rest = _split_chunks(data, 8, riff=False)
    out = [data[:8]]
    for kind, payload, chunk in chunks:
        if kind in (b"tEXt", b"zTXt", b"iTXt") and payload.split(b"\x00", 1)[0] in _PNG_METADATA_KEYWORDS:
            continue
        if kind == b"eXIf":
            blanked = _blanked_exif_chunk(payload)
            if blanked is None:
                continue
            chunk = _png_chunk(kind, blanked)
        out.append(chunk)
    return b"".join([*out, rest])


def _webp_without_location(data: bytes) -> bytes:
    chunks, rest = _split_chunks(data, 12, riff=True)
    kept: list[bytes] = []
    dropped_xmp = False
    for kind, payload, chunk in chunks:
        if kind == b"XMP " and b"GPS" in payload:
            dropped_xmp = True
            continue
        if kind == b"EXIF":
            blanked = _blanked_exif_chunk(payload)
            if blanked is None:
                continue  # the VP8X flag may still say "EXIF"; readers then find none, as wanted
            # Blanking keeps the size, so the chunk's header stays true.
            chunk = chunk[:8] + blanked + chunk[8 + len(payload) :]
        kept.append(chunk)
    body = b"".join(kept) + rest
    if dropped_xmp and body.startswith(b"VP8X"):
        body = body[:8] + bytes([body[8] & ~0x04]) + body[9:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


_REMOVERS = {"JPEG": _jpeg_without_location, "PNG": _png_without_location, "WEBP": _webp_without_location}


def without_location(data: bytes, image_format: str) -> bytes:
    """The same image with its GPS metadata removed; the pixels' bytes are not touched."""
    remover = _REMOVERS.get(image_format)
    return remover(data) if remover is not None else data
