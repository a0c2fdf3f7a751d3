"""Reads of favourites and comments, always through the photo's own visibility rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User as AuthUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
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


def favourite_state(viewer: User, photo: Photo) -> tuple[bool, int]:
    """Whether the viewer favourited the photo, and how many people did, in one query (the photo
    page's button shows both)."""
    mine = Q(user_id=viewer.pk) if viewer.is_authenticated else Q(pk__in=[])
    counts = Favourite.objects.filter(photo=photo).aggregate(all=Count("id"), mine=Count("id", filter=mine))
    return bool(counts["mine"]), int(counts["all"])


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


def _count(rows: QuerySet[Any], by: str) -> Coalesce:
    """How many of ``rows`` belong to the outer person (``by`` names the person's column), as a
    subquery: the profile page shows every count of its card, so the card is one query."""
    counted = rows.filter(**{by: OuterRef("pk")}).values(by).annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted), 0)


def person_card(viewer: User, username: str) -> PersonCard | None:
    follows_them = Follow.objects.filter(follower_id=viewer.pk if viewer.is_authenticated else None)
    person = (
        AuthUser.objects.filter(username=username, is_active=True)
        .select_related("profile__avatar")
        .annotate(
            n_public_photos=_count(Photo.objects.filter(visibility=Visibility.PUBLIC), "owner"),
            n_followers=_count(Follow.objects.all(), "followee"),
            n_following=_count(Follow.objects.all(), "follower"),
            followed_by_you=Exists(follows_them.filter(followee=OuterRef("pk"))),
        )
        .first()
    )
    if person is None:
        return None
    profile = getattr(person, "profile", None)
    avatar = profile.avatar if profile is not None else None
    return PersonCard(
        username=person.username,
        bio=profile.bio if profile is not None else "",
        avatar=avatar if avatar is not None and avatar.visibility == Visibility.PUBLIC else None,
        public_photos=person.n_public_photos,
        followers=person.n_followers,
        following=person.n_following,
        followed_by_you=bool(viewer.is_authenticated and person.followed_by_you),
        joined=person.date_joined,
    )
