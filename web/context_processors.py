"""What every page's header needs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.http import HttpRequest

from api.notifications.selectors import unread_count


def unread_notifications(request: HttpRequest) -> dict[str, Callable[[], int]]:
    # A callable: the template calls it only where it shows the badge (a signed-in header), so a
    # page costs one COUNT at most, and fragments that never show the header cost nothing.
    return {"unread_notifications": partial(unread_count, request.user)}
