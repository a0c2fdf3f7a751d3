"""Bulk actions on one's own photos: change their visibility, delete them, or add them to an
album, many at once.

Each photo is its own step, so one that cannot be changed (not the person's, gone already)
is named in the answer with the reason and the rest of the batch still goes through. Nothing is
half done for a photo: a visibility change is one UPDATE, a delete is the same transaction as a
single delete (files go after the commit), and an album gets all of the person's photos in one
call of the album service, which adds them all or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from api.albums import selectors as album_selectors
from api.albums import services as album_services
from api.photos import services
from api.photos.models import Photo

MAX_PHOTOS = 200
ACTIONS = ("visibility", "delete", "album")


class BulkRejected(ValueError):
    """The request as a whole cannot be done; the message is shown to the person."""


@dataclass(frozen=True)
class Outcome:
    photo: int
    done: bool
    detail: str


def _wanted(photo_ids: Sequence[int]) -> list[int]:
    wanted = list(dict.fromkeys(photo_ids))
    if not wanted:
        raise BulkRejected("Choose at least one photo.")
    if len(wanted) > MAX_PHOTOS:
        raise BulkRejected(f"At most {MAX_PHOTOS} photos at a time; {len(wanted)} were chosen.")
    return wanted


def apply(
    *,
    user: User,
    photo_ids: Sequence[int],
    action: str,
    visibility: str | None = None,
    album_id: int | None = None,
) -> list[Outcome]:
    """One outcome per photo asked for, in the order asked. Refuses the whole request (with
    :class:`BulkRejected` or ``PermissionDenied``) only for what no photo could get past: an
    unknown action, a missing or bad visibility, an album the person may not add to."""
    if action not in ACTIONS:
        raise BulkRejected(f"Unknown action {action!r}; use one of: {', '.join(ACTIONS)}.")
    wanted = _wanted(photo_ids)
    mine = {p.pk: p for p in Photo.objects.filter(pk__in=wanted, owner=user)}
    outcomes = {
        pk: Outcome(pk, False, "Not one of your photos, or it no longer exists.")
        for pk in wanted
        if pk not in mine
    }
    if action == "visibility":
        if not visibility:
            raise BulkRejected("Say which visibility: public, unlisted or private.")
        chosen = services.clean_visibility(visibility)
        for pk, photo in mine.items():
            services.update_photo(photo=photo, visibility=chosen)
            outcomes[pk] = Outcome(pk, True, f"Now {chosen}.")
    elif action == "delete":
        for pk, photo in mine.items():
            services.delete_photo(photo=photo)
            outcomes[pk] = Outcome(pk, True, "Deleted.")
    else:
        outcomes.update(_add_to_album(user, album_id, [pk for pk in wanted if pk in mine]))
    return [outcomes[pk] for pk in wanted]


def _add_to_album(user: User, album_id: int | None, photo_ids: list[int]) -> dict[int, Outcome]:
    if album_id is None:
        raise BulkRejected("Say which album to add the photos to.")
    album = album_selectors.viewable_album(user, album_id)
    if album is None:
        raise BulkRejected(f"There is no album {album_id} that you can see.")
    if not album_selectors.can_add_photos(user, album):
        raise PermissionDenied("Only the album's owner and its contributors can add photos.")
    if not photo_ids:
        return {}
    added = set(album_services.add_photos(user=user, album=album, photo_ids=photo_ids))
    return {
        pk: Outcome(pk, True, f"Added to {album.title!r}.")
        if pk in added
        else Outcome(pk, True, f"Already in {album.title!r}.")
        for pk in photo_ids
    }
