"""Reading tags: a photo's tags with their vote counts, and tag search with photo counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)

from api.photos.models import Photo, Visibility
from api.photos.selectors import listed_photos
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote, Vote

LIVE_STATES = (TagState.SUGGESTED, TagState.CONFIRMED)


def can_take_part(user: AbstractBaseUser | AnonymousUser, photo: Photo) -> bool:
    """Who may tag a photo and vote on its tags: the owner always, others only on public photos,
    so that people vouch only for what everyone can see. The API refuses, and the site hides its
    controls, by this one rule."""
    return bool(
        user.is_authenticated and (photo.owner_id == user.pk or photo.visibility == Visibility.PUBLIC)
    )


def photo_tags_with_votes() -> QuerySet[PhotoTag]:
    """Confirmed first, then suggestions by score, rejected last."""
    return (
        PhotoTag.objects.select_related("tag", "added_by")
        .annotate(
            confirmations=Count("votes", filter=Q(votes__value=Vote.CONFIRM)),
            rejections=Count("votes", filter=Q(votes__value=Vote.REJECT)),
            state_rank=Case(
                When(state=TagState.CONFIRMED, then=Value(0)),
                When(state=TagState.SUGGESTED, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
        )
        .order_by("state_rank", "-score", "tag__name")
    )


def with_their_tags() -> Prefetch:
    """What galleries and the API prefetch: each photo's tags with their vote counts."""
    return Prefetch("photo_tags", queryset=photo_tags_with_votes())


def attach_tags(photos: Sequence[Photo]) -> None:
    """The same tags for photos already loaded (no second query for the photos themselves)."""
    prefetch_related_objects(list(photos), with_their_tags())


def search_tags(viewer: AbstractBaseUser | AnonymousUser, query: str = "", limit: int = 20) -> QuerySet[Tag]:
    """Tags matching ``query`` (prefix matches first), each with the number of photos the viewer
    may see that carry it. Counting only visible photos keeps private photos' tags private."""
    visible = Q(photo_tags__photo__visibility=Visibility.PUBLIC)
    if viewer.is_authenticated:
        visible |= Q(photo_tags__photo__owner_id=viewer.pk)
    tags = Tag.objects.annotate(
        photo_count=Count("photo_tags", filter=visible & Q(photo_tags__state__in=LIVE_STATES), distinct=True)
    ).filter(photo_count__gt=0)
    if query:
        tags = (
            tags.filter(name__contains=query.lower().lstrip("#"))
            .annotate(
                prefix=Case(
                    When(name__startswith=query.lower().lstrip("#"), then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                )
            )
            .order_by("prefix", "-photo_count", "name")
        )
    else:
        tags = tags.order_by("-photo_count", "name")
    return tags[:limit]


def known_tags(viewer: AbstractBaseUser | AnonymousUser, names: Sequence[str]) -> list[str]:
    """Which of ``names`` are tags on a photo the viewer may see, in the order given: the search
    box offers these as tag chips. Only visible photos count, so a private photo's tag is not
    revealed by searching for it."""
    if not names:
        return []
    visible = Q(photo_tags__photo__visibility=Visibility.PUBLIC)
    if viewer.is_authenticated:
        visible |= Q(photo_tags__photo__owner_id=viewer.pk)
    found = set(
        Tag.objects.filter(visible, name__in=names, photo_tags__state__in=LIVE_STATES).values_list(
            "name", flat=True
        )
    )
    return [name for name in names if name in found]


def uncertain_suggestions(
    viewer: AbstractBaseUser, *, skip: Collection[int] = (), limit: int = 12
) -> QuerySet[PhotoTag]:
    """The model's suggestions the viewer can vouch for and has not yet, least confident first:
    every suggestion already passed its tag's threshold, so the lowest scores are the ones the
    model is least sure of, and a person's word there teaches it the most."""
    return (
        PhotoTag.objects.filter(
            source=TagSource.MODEL,
            state=TagState.SUGGESTED,
            photo__in=listed_photos(viewer).values("pk"),
        )
        .exclude(votes__user_id=viewer.pk)
        .exclude(pk__in=list(skip))
        .select_related("tag", "photo", "photo__owner")
        .order_by("score", "id")[:limit]
    )


def contributions(user: AbstractBaseUser) -> int:
    """Tags the user added, confirmed or rejected; adding a tag and vouching for it count once.
    Two counts on indexed columns (one vote per person and tag), not a DISTINCT over a join of
    every tag with its votes."""
    added = Q(source=TagSource.USER, added_by_id=user.pk)
    voted_on_others = TagVote.objects.filter(user_id=user.pk).exclude(
        photo_tag__source=TagSource.USER, photo_tag__added_by_id=user.pk
    )
    return PhotoTag.objects.filter(added).count() + voted_on_others.count()
