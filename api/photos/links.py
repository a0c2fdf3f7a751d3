"""The addresses of a photo's files and of its share page, built here for the API and the site
alike, so an unlisted photo's token goes on exactly the URLs that need it and on no other."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.urls import reverse
from rest_framework.request import Request

from api.photos.models import Photo, Visibility
from api.photos.selectors import can_view
from api.photos.services import is_owner


def file_url(photo: Photo, kind: str, share_token: str | None = None) -> str:
    url = reverse("photo-file", kwargs={"pk": photo.pk, "kind": kind})
    # Unlisted photos need the token on every file URL, or the browser could not load them.
    if photo.visibility == Visibility.UNLISTED and share_token:
        url += f"?s={share_token}"
    return url


def file_token(viewer: User | AnonymousUser, photo: Photo, offered: str | None = None) -> str | None:
    """The share token that goes on the viewer's file URLs: the photo's own for its owner; for
    anyone else the token they came with, and only if it opens the photo."""
    if is_owner(viewer, photo):
        return photo.share_token
    return offered if offered and can_view(viewer, photo, offered) else None


def file_url_for(viewer: User | AnonymousUser, photo: Photo, kind: str) -> str:
    """A file URL as ``viewer`` may load it when they came without a share token."""
    return file_url(photo, kind, file_token(viewer, photo))


def share_url(request: HttpRequest | Request, photo: Photo) -> str | None:
    """The share link, shown only to the owner of an unlisted photo: whoever holds it can open
    the photo, so the owner alone decides who gets it."""
    if photo.visibility != Visibility.UNLISTED or not is_owner(request.user, photo):
        return None
    return request.build_absolute_uri(reverse("web:shared-photo", kwargs={"token": photo.share_token}))
