"""One's own photos and what one said about photos, as a ZIP, streamed: the originals as stored
(GPS removed at upload, not recompressed) under ``photos/``, then ``tagloop.json`` with the
account, each photo's caption, visibility, dates and tags, one's albums, comments, favourites
and follows. Each original is read in chunks and written straight into the response, through
the same unseekable pipe as the album download (``api/zipstream.py``), so memory stays flat
however many photos there are; only the JSON, a few hundred bytes a photo, is built whole."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Prefetch
from django.utils import timezone

from api import volume
from api.albums.models import Album, AlbumPhoto
from api.photos.models import Photo
from api.social.models import Comment, Favourite, Follow, Profile
from api.tags.models import PhotoTag
from api.zipstream import ZipPipe, copy_file, zip_time

METADATA = "tagloop.json"


def export_name(user: User) -> str:
    return f"tagloop-{user.username}-{timezone.now():%Y-%m-%d}.zip"


def photo_entry(photo: Photo) -> str:
    return f"photos/photo-{photo.pk}.{photo.file_ext}"


def account_zip(user: User) -> Iterator[bytes]:
    pipe = ZipPipe()
    photos = Photo.objects.filter(owner=user).order_by("pk")
    exported: list[dict[str, object]] = []
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for photo in photos.iterator(chunk_size=200):
            path = volume.original_path(photo.content_hash, photo.file_ext)
            name = photo_entry(photo) if path.exists() else None  # a file lost on disk: its row still goes
            if name is not None:
                entry = zipfile.ZipInfo(name, zip_time(photo.taken_at or photo.created_at))
                yield from copy_file(archive, pipe, entry, path)
            exported.append(_photo(photo, name))
            yield pipe.drain()
        document = json.dumps(_metadata(user, exported), indent=2, ensure_ascii=False)
        archive.writestr(zipfile.ZipInfo(METADATA, zip_time(timezone.now())), document)
    yield pipe.drain()


def _photo(photo: Photo, file: str | None) -> dict[str, object]:
    tags = PhotoTag.objects.filter(photo=photo).select_related("tag", "added_by").order_by("tag__name")
    return {
        "id": photo.pk,
        "file": file,
        "caption": photo.caption,
        "visibility": photo.visibility,
        "taken_at": _iso(photo.taken_at),
        "uploaded_at": _iso(photo.created_at),
        "width": photo.width,
        "height": photo.height,
        "location": (
            {"latitude": photo.latitude, "longitude": photo.longitude, "shown": photo.show_location}
            if photo.latitude is not None
            else None
        ),
        "tags": [
            {
                "name": t.tag.name,
                "state": t.state,
                "source": t.source,
                "score": t.score,
                "added_by": t.added_by.username if t.added_by else None,
            }
            for t in tags
        ],
    }


def _metadata(user: User, photos: list[dict[str, object]]) -> dict[str, object]:
    profile = Profile.objects.filter(user=user).first()
    # Only one's own photos: a contributor's private photo in one's album is not one's to take.
    entries = Prefetch("entries", queryset=AlbumPhoto.objects.filter(photo__owner=user))
    albums = Album.objects.filter(owner=user).prefetch_related(entries).order_by("pk")
    comments = Comment.objects.filter(author=user).order_by("pk")
    favourites = Favourite.objects.filter(user=user).order_by("pk")
    return {
        "exported_at": _iso(timezone.now()),
        "account": {
            "username": user.username,
            "email": user.email,
            "joined": _iso(user.date_joined),
            "bio": profile.bio if profile else "",
            "avatar": profile.avatar_id if profile else None,
        },
        "photos": photos,
        "albums": [
            {
                "id": album.pk,
                "title": album.title,
                "description": album.description,
                "visibility": album.visibility,
                "created_at": _iso(album.created_at),
                "photos": [entry.photo_id for entry in album.entries.all()],
            }
            for album in albums.iterator(chunk_size=200)
        ],
        "comments": [
            {"photo": c.photo_id, "body": c.body, "created_at": _iso(c.created_at)}
            for c in comments.iterator(chunk_size=500)
        ],
        "favourites": [
            {"photo": f.photo_id, "created_at": _iso(f.created_at)}
            for f in favourites.iterator(chunk_size=500)
        ],
        "following": list(
            Follow.objects.filter(follower=user).order_by("pk").values_list("followee__username", flat=True)
        ),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
