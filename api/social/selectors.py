"""Reads of favourites and comments, always through the photo's own visibility rule."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from api.photos.models import Photo
from api.photos.selectors import User, listed_photos
from api.social.models import Comment, Favourite


def with_favourite_counts(photos: QuerySet[Photo]) -> QuerySet[Photo]:
    """Each photo's number of favourites as ``favourite_count`` (one subquery, no join)."""
    counts = (
        Favourite.objects.filter(photo=OuterRef("pk")).values("photo").annotate(n=Count("id")).values("n")
    )
    return photos.annotate(favourite_count=Coalesce(Subquery(counts), 0))


def favourite_count(photo: Photo) -> int:
    return Favourite.objects.filter(photo=photo).count()


def has_favourited(viewer: User, photo: Photo) -> bool:
    return bool(viewer.is_authenticated and Favourite.objects.filter(user_id=viewer.pk, photo=photo).exists())


def my_favourites(viewer: User) -> QuerySet[Photo]:
    """The photos the viewer favourited that they may still find (public or their own); a photo
    made private since is left out, not shown."""
    if not viewer.is_authenticated:
        return Photo.objects.none()
    return listed_photos(viewer).filter(favourites__user_id=int(viewer.pk))


def comments_on(photo: Photo) -> QuerySet[Comment]:
    """A photo's comments, oldest first. Callers have checked the viewer may see the photo."""
    return Comment.objects.filter(photo=photo).select_related("author")
