"""Reads of notifications: a person only ever reads their own."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from api.notifications.models import Notification


def notifications_for(recipient: AbstractBaseUser) -> QuerySet[Notification]:
    """Newest first, with who did it and what it was about, in one query."""
    return Notification.objects.filter(recipient_id=recipient.pk).select_related("actor", "photo", "album")


def unread_count(viewer: AbstractBaseUser | AnonymousUser) -> int:
    """One COUNT on the (recipient, read_at) index: the site's header shows it on every page."""
    if not viewer.is_authenticated:
        return 0
    return Notification.objects.filter(recipient_id=viewer.pk, read_at__isnull=True).count()
