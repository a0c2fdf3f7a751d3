"""An album as a ZIP, streamed: each original is read in chunks and written straight into the
response, so memory stays flat however large the album. The ZIP holds exactly the photos the
viewer sees in the album (the album rule: never more), stored without recompression (JPEG and
PNG are compressed already), named by position, id and the album's order."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from api import volume
from api.albums.models import Album
from api.albums.selectors import album_photos
from api.photos.selectors import User
from api.zipstream import ZipPipe, copy_file, zip_time


def zip_name(album: Album) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in album.title).strip() or "album"
    return f"{safe[:80]}.zip"


def album_zip(viewer: User, album: Album) -> Iterator[bytes]:
    pipe = ZipPipe()
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
            when = photo.taken_at or photo.created_at
            entry = zipfile.ZipInfo(f"{position:04d}-photo-{photo.pk}.{photo.file_ext}", zip_time(when))
            yield from copy_file(archive, pipe, entry, path)
            yield pipe.drain()
    yield pipe.drain()
