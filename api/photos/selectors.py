"""Who may see which photo. Every read of photos goes through here, so a private photo cannot
leak through one forgotten query."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from api.photos.models import Photo, Visibility

User = AbstractBaseUser | AnonymousUser


def listed_photos(viewer: User) -> QuerySet[Photo]:
    """Photos that may appear in feeds, galleries and search: public ones and the viewer's own.
    Unlisted photos are reachable only through their share link, so they are never listed."""
    visible = Q(visibility=Visibility.PUBLIC)
    if viewer.is_authenticated:
        visible |= Q(owner_id=viewer.pk)
    return Photo.objects.filter(visible).select_related("owner")


def viewable_photo(viewer: User, photo_id: int, share_token: str | None = None) -> Photo | None:
    """One photo if the viewer may open it: public, the viewer's own, or unlisted with the right
    share token. A private photo is only ever its owner's."""
    photo = Photo.objects.select_related("owner").filter(pk=photo_id).first()
    if photo is None or not can_view(viewer, photo, share_token):
        return None
    return photo


def can_view(viewer: User, photo: Photo, share_token: str | None = None) -> bool:
    if viewer.is_authenticated and photo.owner_id == viewer.pk:
        return True
    if photo.visibility == Visibility.PUBLIC:
        return True
    if photo.visibility == Visibility.UNLISTED:
        return bool(share_token) and share_token == photo.share_token
    return False


def visible_location(viewer: User, photo: Photo) -> tuple[float, float] | None:
    """Where the photo was taken, for those who may know: its owner, or anyone once the owner
    chose to show it. Staff are "anyone else" here, as for private photos."""
    if photo.latitude is None or photo.longitude is None:
        return None
    if photo.show_location or (viewer.is_authenticated and photo.owner_id == viewer.pk):
        return photo.latitude, photo.longitude
    return None


def photo_by_share_token(token: str) -> Photo | None:
    return (
        Photo.objects.select_related("owner")
        .filter(share_token=token, visibility__in=[Visibility.UNLISTED, Visibility.PUBLIC])
        .first()
    )


def search_photos(
    viewer: User,
    *,
    tags: Sequence[str] = (),
    owner: str | None = None,
    status: str | None = None,
    text: str | None = None,
) -> QuerySet[Photo]:
    from api.tags.models import TagState

    photos = listed_photos(viewer)
    for name in tags:
        # Every tag must match; a rejected tag does not describe the photo.
        photos = photos.filter(
            photo_tags__tag__name=name,
            photo_tags__state__in=[TagState.SUGGESTED, TagState.CONFIRMED],
        )
    if owner:
        photos = photos.filter(owner__username=owner)
    if status:
        photos = photos.filter(status=status)
    if text:
        photos = photos.filter(caption__icontains=text)
    return photos.distinct() if tags else photos
