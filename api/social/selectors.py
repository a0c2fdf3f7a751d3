"""Reads of favourites and comments, always through the photo's own visibility rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User as AuthUser
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from api.photos.models import Photo, Visibility
from api.photos.selectors import User, listed_photos
from api.social.models import Comment, Favourite, Follow


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


def following_feed(viewer: User) -> QuerySet[Photo]:
    """Public photos of the people the viewer follows, newest first."""
    if not viewer.is_authenticated:
        return Photo.objects.none()
    return Photo.objects.filter(
        visibility=Visibility.PUBLIC, owner__followers__follower_id=int(viewer.pk)
    ).select_related("owner")


@dataclass(frozen=True)
class PersonCard:
    username: str
    bio: str
    avatar: Photo | None
    public_photos: int
    followers: int
    following: int
    followed_by_you: bool
    joined: datetime


def person_card(viewer: User, username: str) -> PersonCard | None:
    person = (
        AuthUser.objects.filter(username=username, is_active=True).select_related("profile__avatar").first()
    )
    if person is None:
        return None
    profile = getattr(person, "profile", None)
    avatar = profile.avatar if profile is not None else None
    return PersonCard(
        username=person.username,
        bio=profile.bio if profile is not None else "",
        avatar=avatar if avatar is not None and avatar.visibility == Visibility.PUBLIC else None,
        public_photos=Photo.objects.filter(owner=person, visibility=Visibility.PUBLIC).count(),
        followers=Follow.objects.filter(followee=person).count(),
        following=Follow.objects.filter(follower=person).count(),
        followed_by_you=bool(
            viewer.is_authenticated
            and Follow.objects.filter(follower_id=int(viewer.pk), followee=person).exists()
        ),
        joined=person.date_joined,
    )
