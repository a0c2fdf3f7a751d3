"""Streaming a ZIP without holding it: the album download and the account export write into an
unseekable pipe and hand each drained piece to the response as it comes."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

CHUNK = 1 << 16


class ZipPipe:
    """A write-only, unseekable file: ZipFile writes into it, the generator drains it. Unseekable
    makes ZipFile put each entry's sizes after its data, so nothing needs to be buffered."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    """A ZIP entry's timestamp (the format starts in 1980)."""
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)


def copy_file(archive: zipfile.ZipFile, pipe: ZipPipe, entry: zipfile.ZipInfo, path: Path) -> Iterator[bytes]:
    """Writes the file at ``path`` into the archive as ``entry``, a chunk at a time, yielding what
    the pipe holds after each chunk."""
    with path.open("rb") as source, archive.open(entry, mode="w") as target:
        while chunk := source.read(CHUNK):
            target.write(chunk)
            yield pipe.drain()
