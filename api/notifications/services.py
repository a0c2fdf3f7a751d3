"""Sending and reading notifications. ``notify`` is called by the services where things happen
(comments, favourites, tags and votes, album invitations, follows); nobody is told about their
own doing, and a favourite or follow repeated within a day tells no one twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from api.albums.models import Album
from api.notifications.models import Kind, Notification
from api.photos.models import Photo

REPEAT_WINDOW = timedelta(days=1)
ONCE_A_DAY = {Kind.FAVOURITE, Kind.FOLLOWER, Kind.VOTE}


def notify(
    *,
    recipient: AbstractBaseUser,
    actor: AbstractBaseUser,
    kind: str,
    photo: Photo | None = None,
    album: Album | None = None,
    detail: str = "",
) -> Notification | None:
    if recipient.pk == actor.pk:
        return None
    if kind in ONCE_A_DAY and Notification.objects.filter(
        recipient_id=recipient.pk, actor_id=actor.pk, kind=kind, photo=photo,
        created_at__gte=timezone.now() - REPEAT_WINDOW,
    ).exists():  # fmt: skip
        return None
    return Notification.objects.create(
        recipient_id=recipient.pk, actor_id=actor.pk, kind=kind, photo=photo, album=album, detail=detail[:200]
    )


def mark_read(*, recipient: AbstractBaseUser, ids: Sequence[int] | None = None) -> int:
    """Marks the recipient's notifications read: those named, or all. Returns how many changed."""
    unread = Notification.objects.filter(recipient_id=recipient.pk, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
