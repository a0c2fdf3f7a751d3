"""An album as a ZIP, streamed: each original is read in chunks and written straight into the
response, so memory stays flat however large the album. The ZIP holds exactly the photos the
viewer sees in the album (the album rule: never more), stored without recompression (JPEG and
PNG are compressed already), named by position, id and the album's order."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime

from api import volume
from api.albums.models import Album
from api.albums.selectors import album_photos
from api.photos.models import Photo
from api.photos.selectors import User

CHUNK = 1 << 16


class _Pipe:
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


def zip_name(album: Album) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in album.title).strip() or "album"
    return f"{safe[:80]}.zip"


def album_zip(viewer: User, album: Album) -> Iterator[bytes]:
    pipe = _Pipe()
    photos = (
        album_photos(viewer, album)
        .select_related(None)
        .only("pk", "content_hash", "file_ext", "created_at", "taken_at")
    )
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for position, photo in enumerate(photos.iterator(chunk_size=200), start=1):
            path = volume.original_path(photo.content_hash, photo.file_ext)
            if not path.exists():
                continue  # a file lost on disk: the others still go out
            entry = zipfile.ZipInfo(f"{position:04d}-photo-{photo.pk}.{photo.file_ext}", _stamp(photo))
            with path.open("rb") as source, archive.open(entry, mode="w") as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()


def _stamp(photo: Photo) -> tuple[int, int, int, int, int, int]:
    when: datetime = photo.taken_at or photo.created_at
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
