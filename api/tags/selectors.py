"""Reading tags: a photo's tags with their vote counts, and tag search with photo counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)

from api.photos.models import Photo, Visibility
from api.photos.selectors import listed_photos
from api.tags.models import (
    LIVE_STATES,
    ContributionCount,
    OwnerTagCount,
    PhotoTag,
    Tag,
    TagCount,
    TagSource,
    TagState,
    TagVote,
    Vote,
)


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


@dataclass(frozen=True)
class TagMatch:
    name: str
    photo_count: int


def search_tags(viewer: AbstractBaseUser | AnonymousUser, query: str = "", limit: int = 20) -> list[TagMatch]:
    """Tags matching ``query`` (prefix matches first), each with the number of photos the viewer
    may see that carry it, most first. Counting only visible photos keeps private photos' tags
    private.

    Bounded by the vocabulary and the viewer's own library, never the whole site's: public photos
    are counted by ``api.tags.counts`` in the background, the viewer's own live. A tag's count is
    the larger of its public count and the viewer's own public photos with it (so their newest
    public tags show at once), plus their own unlisted and private photos with it."""
    needle = query.lower().lstrip("#")
    public = TagCount.objects.filter(public_photos__gt=0)
    if needle:
        public = public.filter(tag__name__contains=needle)
    ranked = public.annotate(prefix=_prefix_rank(needle, "tag__name")).order_by(
        "prefix", "-public_photos", "tag__name"
    )
    counts = dict(ranked.values_list("tag__name", "public_photos")[:limit])
    own = _own_tag_counts(viewer, needle)
    missing = [name for name in own if name not in counts]
    counts.update(
        TagCount.objects.filter(tag__name__in=missing, public_photos__gt=0).values_list(
            "tag__name", "public_photos"
        )
    )
    for name, (own_public, own_other) in own.items():
        counts[name] = max(counts.get(name, 0), own_public) + own_other
    matches = [TagMatch(name, count) for name, count in counts.items() if count > 0]
    matches.sort(
        key=lambda tag: (bool(needle) and not tag.name.startswith(needle), -tag.photo_count, tag.name)
    )
    return matches[:limit]


def _prefix_rank(needle: str, field: str) -> Case | Value:
    if not needle:
        return Value(0)
    return Case(
        When(**{f"{field}__startswith": needle}, then=Value(0)), default=Value(1), output_field=IntegerField()
    )


def _own_tag_counts(viewer: AbstractBaseUser | AnonymousUser, needle: str) -> dict[str, tuple[int, int]]:
    """The viewer's own live tags matching ``needle``: (public photos, unlisted and private ones).
    A large library's come from its background counts (``OwnerTagCount``) with the tags it gained
    since, so that a new tag shows at once; a counted tag's numbers wait for the next refresh."""
    if not viewer.is_authenticated:
        return {}
    mine = PhotoTag.objects.filter(photo__owner_id=viewer.pk, state__in=LIVE_STATES)
    if needle:
        mine = mine.filter(tag__name__contains=needle)
    counted = OwnerTagCount.objects.filter(owner_id=viewer.pk)
    as_of = counted.values_list("refreshed_at", flat=True).first()
    if as_of is None:
        return _grouped_by_name(mine)
    own = {
        name: (public, other)
        for name, public, other in (counted.filter(tag__name__contains=needle) if needle else counted)
        .values_list("tag__name", "public_photos", "other_photos")
        .order_by()
    }
    # What the background count cannot know yet: tags people added since, and every tag of the
    # photos uploaded since. Each read is a short range of an index, however large the library.
    new = mine.exclude(tag_id__in=counted.values("tag_id"))
    added = new.filter(source=TagSource.USER, updated_at__gte=as_of).values_list("pk", flat=True)
    on_new_photos = new.filter(photo__created_at__gte=as_of).values_list("pk", flat=True)
    own.update(_grouped_by_name(PhotoTag.objects.filter(pk__in=[*added, *on_new_photos])))
    return own


def _grouped_by_name(tags: QuerySet[PhotoTag]) -> dict[str, tuple[int, int]]:
    public = Q(photo__visibility=Visibility.PUBLIC)
    rows = tags.values_list("tag__name").annotate(
        public=Count("id", filter=public), other=Count("id", filter=~public)
    )
    return {name: (public_count, other) for name, public_count, other in rows.order_by()}


def known_tags(viewer: AbstractBaseUser | AnonymousUser, names: Sequence[str]) -> list[str]:
    """Which of ``names`` are tags on a photo the viewer may see, in the order given: the search
    box offers these as tag chips. Only visible photos count, so a private photo's tag is not
    revealed by searching for it. One EXISTS per name, which stops at the first visible photo
    (counting them all grew with the tag)."""
    if not names:
        return []
    visible = Q(photo__visibility=Visibility.PUBLIC)
    if viewer.is_authenticated:
        visible |= Q(photo__owner_id=viewer.pk)
    on_a_visible_photo = PhotoTag.objects.filter(visible, tag=OuterRef("pk"), state__in=LIVE_STATES)
    found = set(Tag.objects.filter(Exists(on_a_visible_photo), name__in=names).values_list("name", flat=True))
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
    From the background count (``ContributionCount``) plus what they did since, or counted live
    for someone not counted yet. A tag or vote withdrawn since the count still counts until the
    next one."""
    counted = (
        ContributionCount.objects.filter(user_id=user.pk).values_list("contributions", "refreshed_at").first()
    )
    if counted is None:
        return count_contributions(user.pk)
    total, as_of = counted
    return total + count_contributions(user.pk, since=as_of)


def count_contributions(user_id: int, *, since: datetime | None = None) -> int:
    """Two counts on indexed columns (one vote per person and tag), not a DISTINCT over a join of
    every tag with its votes; ``since``: only what was added or voted from then on."""
    added = PhotoTag.objects.filter(source=TagSource.USER, added_by_id=user_id)
    votes = TagVote.objects.filter(user_id=user_id)
    if since is not None:
        # updated_at first: a person's tag is updated after it is created, and only that column
        # has an index over people's tags.
        added = added.filter(updated_at__gte=since, created_at__gte=since)
        votes = votes.filter(created_at__gte=since)
    voted_on_others = votes.exclude(photo_tag__source=TagSource.USER, photo_tag__added_by_id=user_id)
    return added.count() + voted_on_others.count()
