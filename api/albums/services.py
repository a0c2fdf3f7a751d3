"""Changing albums: who may do what is decided here, so the API and the site agree.

- The owner edits, shares, deletes the album, invites and removes members, sets the cover,
  reorders, and removes any photo.
- A contributor adds their own photos and removes the ones they added.
- Nobody adds someone else's photo: an album gathers its people's own photos.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.albums.models import Album, AlbumMember, AlbumPhoto, Role
from api.albums.selectors import can_add_photos, role_of
from api.notifications.models import Kind
from api.notifications.services import notify
from api.photos.models import Photo, Visibility
from api.photos.services import without_control_characters

TITLE_MAX_LENGTH = 200
MAX_PHOTOS_PER_REQUEST = 500


class AlbumRejected(ValueError):
    """A change that cannot be made; the message is shown to the person."""


def _text(value: str, *, what: str, limit: int) -> str:
    cleaned = without_control_characters(value)
    if len(cleaned) > limit:
        raise AlbumRejected(f"The {what} is {len(cleaned)} characters long; the limit is {limit}.")
    return cleaned


def _visibility(value: str) -> str:
    # The API's serializer checks this too; the site's forms reach here with whatever was posted.
    if value not in Visibility.values:
        raise AlbumRejected(f"Visibility must be one of {', '.join(Visibility.values)}, not {value!r}.")
    return value


def _owner_only(user: User, album: Album, action: str) -> None:
    if album.owner_id != user.pk:
        raise PermissionDenied(f"Only the album's owner can {action}.")


def create_album(
    *, owner: User, title: str, description: str = "", visibility: str = Visibility.PRIVATE
) -> Album:
    title = _text(title, what="title", limit=TITLE_MAX_LENGTH)
    if not title:
        raise AlbumRejected("An album needs a title.")
    return Album.objects.create(
        owner=owner, title=title, description=_text(description, what="description", limit=2000),
        visibility=_visibility(visibility),
    )  # fmt: skip


def update_album(
    *,
    user: User,
    album: Album,
    title: str | None = None,
    description: str | None = None,
    visibility: str | None = None,
    cover: int | bool | None = False,
) -> Album:
    """Changes what is given; ``cover`` False leaves it, None clears it, an id sets a photo of
    the album the owner may see as its cover."""
    _owner_only(user, album, "edit it")
    if title is not None:
        album.title = _text(title, what="title", limit=TITLE_MAX_LENGTH)
        if not album.title:
            raise AlbumRejected("An album needs a title.")
    if description is not None:
        album.description = _text(description, what="description", limit=2000)
    if visibility is not None:
        album.visibility = _visibility(visibility)
    if cover is None:
        album.cover = None
    elif cover is not False:
        entry = AlbumPhoto.objects.filter(album=album, photo_id=cover).select_related("photo").first()
        if entry is None:
            raise AlbumRejected(f"Photo {cover} is not in this album, so it cannot be its cover.")
        album.cover = entry.photo
    album.save()
    return album


def delete_album(*, user: User, album: Album) -> None:
    """The album goes; its photos stay where they were."""
    _owner_only(user, album, "delete it")
    album.delete()


def add_photos(*, user: User, album: Album, photo_ids: Sequence[int]) -> list[int]:
    """Appends the person's own photos, in the order given; ones already in the album stay where
    they are. Returns the ids added. Refuses the whole request, naming them, if any photo is not
    theirs or does not exist."""
    if not can_add_photos(user, album):
        raise PermissionDenied("Only the album's owner and its contributors can add photos.")
    wanted = list(dict.fromkeys(photo_ids))
    if not wanted:
        raise AlbumRejected("Name at least one photo to add.")
    if len(wanted) > MAX_PHOTOS_PER_REQUEST:
        raise AlbumRejected(f"At most {MAX_PHOTOS_PER_REQUEST} photos per request.")
    mine = set(Photo.objects.filter(pk__in=wanted, owner=user).values_list("pk", flat=True))
    refused = [pk for pk in wanted if pk not in mine]
    if refused:
        listed = ", ".join(map(str, refused[:10]))
        raise AlbumRejected(
            f"You can add only your own photos; these are not yours or do not exist: {listed}."
        )
    with transaction.atomic():
        Album.objects.select_for_update().filter(pk=album.pk).first()  # one writer of positions at a time
        present = set(
            AlbumPhoto.objects.filter(album=album, photo_id__in=wanted).values_list("photo_id", flat=True)
        )
        fresh = [pk for pk in wanted if pk not in present]
        last = AlbumPhoto.objects.filter(album=album).aggregate(top=Max("position"))["top"]
        start = 0 if last is None else last + 1
        AlbumPhoto.objects.bulk_create(
            [
                AlbumPhoto(album=album, photo_id=pk, position=start + i, added_by=user)
                for i, pk in enumerate(fresh)
            ]
        )
        Album.objects.filter(pk=album.pk).update(updated_at=timezone.now())
    return fresh


def remove_photos(*, user: User, album: Album, photo_ids: Sequence[int]) -> int:
    """The owner removes any photo; a contributor only the ones they added. Returns how many
    went; photos not in the album are ignored."""
    role = role_of(user, album)
    entries = AlbumPhoto.objects.filter(album=album, photo_id__in=list(photo_ids))
    if role == "owner":
        pass
    elif role == Role.CONTRIBUTOR:
        if entries.exclude(added_by=user).exists():
            raise PermissionDenied("A contributor removes only the photos they added.")
    else:
        raise PermissionDenied("Only the album's owner and its contributors can remove photos.")
    removed, _ = entries.delete()
    if (
        album.cover_id is not None
        and not AlbumPhoto.objects.filter(album=album, photo_id=album.cover_id).exists()
    ):
        Album.objects.filter(pk=album.pk).update(cover=None)
    return removed


def reorder(*, user: User, album: Album, photo_ids: Sequence[int]) -> None:
    """Puts the named photos first, in the order given; the others keep their order after them."""
    _owner_only(user, album, "reorder it")
    wanted = list(dict.fromkeys(photo_ids))
    with transaction.atomic():
        entries = {e.photo_id: e for e in AlbumPhoto.objects.select_for_update().filter(album=album)}
        unknown = [pk for pk in wanted if pk not in entries]
        if unknown:
            raise AlbumRejected(f"These photos are not in the album: {', '.join(map(str, unknown[:10]))}.")
        rest = [
            pk
            for pk in sorted(entries, key=lambda pk: (entries[pk].position, entries[pk].pk))
            if pk not in set(wanted)
        ]
        for position, pk in enumerate([*wanted, *rest]):
            entries[pk].position = position
        AlbumPhoto.objects.bulk_update(list(entries.values()), ["position"])


def move_photo(*, user: User, album: Album, photo_id: int, step: int, among: Sequence[int]) -> None:
    """Swaps a photo with its neighbour before (step -1) or after (step 1) it among ``among``,
    the photos the owner sees in the album's order. Photos hidden from the owner (a contributor's
    private ones) keep their places, so one press always moves the photo past a visible one."""
    _owner_only(user, album, "reorder it")
    shown = list(among)
    if photo_id not in shown:
        raise AlbumRejected(f"Photo {photo_id} is not in this album.")
    at = shown.index(photo_id)
    if not 0 <= at + step < len(shown):
        return  # the first photo moved up, or the last down: it stays
    neighbour = shown[at + step]
    with transaction.atomic():
        order = list(
            AlbumPhoto.objects.select_for_update().filter(album=album).values_list("photo_id", flat=True)
        )
        if photo_id not in order or neighbour not in order:
            raise AlbumRejected("The album changed meanwhile; look again and retry.")
        i, j = order.index(photo_id), order.index(neighbour)
        order[i], order[j] = order[j], order[i]
        reorder(user=user, album=album, photo_ids=order)


def invite(*, user: User, album: Album, username: str, role: str) -> AlbumMember:
    """Adds a member, or changes their role."""
    _owner_only(user, album, "invite people")
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None:
        raise AlbumRejected(f"There is nobody called {username!r} here.")
    if person.pk == album.owner_id:
        raise AlbumRejected("The owner is in the album already.")
    member, created = AlbumMember.objects.update_or_create(album=album, user=person, defaults={"role": role})
    if created:
        notify(recipient=person, actor=user, kind=Kind.ALBUM, album=album, detail=album.title[:80])
    return member


def remove_member(*, user: User, album: Album, username: str) -> bool:
    """The owner removes anyone; a member may leave. Whether someone was removed."""
    if album.owner_id != user.pk and user.username != username:
        raise PermissionDenied("Only the album's owner can remove other members.")
    removed, _ = AlbumMember.objects.filter(album=album, user__username=username).delete()
    return removed > 0
