"""Who may see which photo. Every read of photos goes through here, so a private photo cannot
leak through one forgotten query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.db.models.sql.compiler import SQLCompiler

from api.photos.models import Photo, Visibility
from api.tags.models import PhotoTag, Tag, TagSource, TagState, search_confidence, search_standing

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


class TagStateFilter(models.TextChoices):
    """Which tags a tag search counts: ``any`` live tag (the default), or only those people
    confirmed."""

    ANY = "any", "Suggestions too"
    CONFIRMED = "confirmed", "Only tags people confirmed"


# What the API and the website both answer to any other ?tag_state=.
UNKNOWN_TAG_STATE = (
    '"{input}" is not a tag state to search by: use "confirmed" (only tags people confirmed) '
    'or "any" (suggestions too).'
)


# The order of a tag search, as annotations on each photo (see search_photos); the keyset
# pagination in api/pagination.py pages through it.
SEARCH_ORDER = ("tag_standing", "-tag_confidence", "-id")

# A photo found by a word of its caption, not by a tag for every word: after every tag match.
CAPTION_STANDING = 3


@dataclass(frozen=True)
class Word:
    """One word of a search box: ``text`` is looked for in captions, ``tag`` is the word as a tag
    name (None when it cannot be one, e.g. "it's")."""

    text: str
    tag: str | None


def search_photos(
    viewer: User,
    *,
    tags: Sequence[str] = (),
    tag_state: str = TagStateFilter.ANY,
    owner: str | None = None,
    status: str | None = None,
    text: str | None = None,
    words: Sequence[Word] = (),
) -> QuerySet[Photo]:
    """Listed photos matching every filter. Each searched tag must be on the photo and live: a
    rejected tag does not describe it, and with ``tag_state="confirmed"`` only a confirmed one
    does. Each of ``words`` (the one search box) must be such a tag on the photo or be in its
    caption, so "blue dress" finds a photo tagged #blue and captioned "my blue dress".

    A tag search puts what people vouched for first. A photo ranks by its weakest searched tag:

    1. every searched tag confirmed (``tag_standing`` 0), newest first;
    2. the weakest one suggested by a person and not yet confirmed (1), newest first;
    3. the weakest one a model suggestion nobody has confirmed (2), by ``tag_confidence``, the
       lowest score among those suggestions, highest first; then newest first;
    4. a photo that matched some word only by its caption (3), newest first.

    Each photo of a tag search also carries ``matched_tags``: the searched tags as they stand on
    it, so a page or the API can say which are suggestions, and how confident, in one query."""
    photos = listed_photos(viewer)
    if not tags and not words:
        return _other_filters(photos, owner=owner, status=status, text=text)
    states = _counted_states(tag_state)
    if len(tags) == 1 and not words:
        return _other_filters(
            _one_tag(photos, tags[0], tag_state), owner=owner, status=status, text=text
        ).order_by(*SEARCH_ORDER)
    if len(words) == 1 and not tags:
        return _other_filters(
            _one_word(photos, words[0], tag_state), owner=owner, status=status, text=text
        ).order_by(*SEARCH_ORDER)

    def tagged(name: str) -> Exists:
        return Exists(PhotoTag.objects.filter(photo=OuterRef("pk"), tag__name=name, state__in=states))

    for name in tags:
        photos = photos.filter(tagged(name))
    for word in words:
        photos = photos.filter(word_matches(word, states))
    names = [*tags, *(word.tag for word in words if word.tag)]
    matched = PhotoTag.objects.filter(photo=OuterRef("pk"), tag__name__in=names, state__in=states)
    standing = search_standing()
    # A model suggestion without a score (none is written so) counts as the least confident.
    guesses = matched.filter(source=TagSource.MODEL, state=TagState.SUGGESTED).annotate(
        confidence=Coalesce("score", Value(0.0))
    )
    by_tags: Combinable = Subquery(
        matched.annotate(standing=standing).order_by("-standing").values("standing")[:1],
        output_field=IntegerField(),
    )
    words_as_tags = [tagged(word.tag) for word in words if word.tag]
    if len(words_as_tags) < len(words):
        by_tags = Value(CAPTION_STANDING)  # some word can only have matched a caption
    elif words:
        # Ranked by the tags only where every word matched as a tag, not by a caption.
        by_tags = Case(When(Q(*words_as_tags), then=by_tags), default=Value(CAPTION_STANDING))
    photos = photos.annotate(
        tag_standing=by_tags,
        # 1.0 when no searched tag is a bare model guess, so that the key is never null.
        tag_confidence=Coalesce(
            Subquery(guesses.order_by("confidence").values("confidence")[:1]),
            Value(1.0),
            output_field=FloatField(),
        ),
    ).prefetch_related(matched_tags(names, tag_state))
    return _other_filters(photos, owner=owner, status=status, text=text).order_by(*SEARCH_ORDER)


def _one_tag(photos: QuerySet[Photo], name: str, tag_state: str) -> QuerySet[Photo]:
    """A tag page: the same ranking as ``search_photos``, computed on the photo's one row for the
    tag, which the index ``tag_search_order`` holds in that order, so that a page reads its
    photos and stops instead of ranking every photo of the tag. The tag's id is looked up first:
    joining on its name would hide that order from the planner."""
    tag_id = Tag.objects.filter(name=name).values_list("id", flat=True).first()
    # One filter() call, so the ranking annotations below use this join and no other.
    found = photos.filter(photo_tags__tag_id=tag_id or 0, photo_tags__state__in=_counted_states(tag_state))
    found = found.annotate(
        tag_standing=search_standing("photo_tags__"), tag_confidence=search_confidence("photo_tags__")
    ).prefetch_related(matched_tags([name], tag_state))
    return found if tag_id is not None else found.none()


def _one_word(photos: QuerySet[Photo], word: Word, tag_state: str) -> QuerySet[Photo]:
    """The search box's commonest case, one word: the same photos and ranking as
    ``search_photos``, ranked from the photo's one row for the word's tag (a left join; none
    for a photo found by its caption), not from subqueries run once per photo."""
    states = _counted_states(tag_state)
    tag_id = Tag.objects.filter(name=word.tag).values_list("id", flat=True).first() if word.tag else None
    if word.tag is None or tag_id is None:
        return photos.filter(caption__icontains=word.text).annotate(
            tag_standing=Value(CAPTION_STANDING), tag_confidence=Value(1.0)
        )
    row = Q(photo_tags__tag_id=tag_id, photo_tags__state__in=states)
    found = photos.filter(word_matches(word, states)).annotate(
        word_tag=FilteredRelation("photo_tags", condition=row)
    )
    return found.annotate(
        tag_standing=Case(
            When(word_tag__id__isnull=True, then=Value(CAPTION_STANDING)),
            default=search_standing("word_tag__"),
        ),
        tag_confidence=search_confidence("word_tag__"),  # 1.0 where there is no such row
    ).prefetch_related(matched_tags([word.tag], tag_state))


class _InArray(Func):
    """``expression = ANY(ARRAY(subquery))``: PostgreSQL runs the subquery once and, unlike with
    ``IN (subquery)``, can look the answers up in an index, so that the OR of it and another
    indexed condition (a caption's trigrams) reads only the matching rows, not the whole table.
    SQLite, which has no arrays, gets ``IN (subquery)``."""

    arg_joiner = " = ANY(ARRAY("
    template = "%(expressions)s))"
    output_field = BooleanField()

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: object
    ) -> tuple[str, tuple[str | int, ...]]:
        return self.as_sql(compiler, connection, arg_joiner=" IN ", template="%(expressions)s")


def word_matches(word: Word, states: list[str]) -> Q:
    """A word of the search box: in the caption, or the name of a live tag of the photo."""
    in_caption = Q(caption__icontains=word.text)
    if not word.tag:
        return in_caption
    tagged = PhotoTag.objects.filter(tag__name=word.tag, state__in=states).values("photo_id")
    return in_caption | Q(_InArray(F("pk"), Subquery(tagged)))


def matched_tags(tags: Sequence[str], tag_state: str = TagStateFilter.ANY) -> Prefetch:
    """The searched tags as they stand on each photo, into ``photo.matched_tags``."""
    return Prefetch(
        "photo_tags",
        queryset=PhotoTag.objects.filter(
            tag__name__in=tags, state__in=_counted_states(tag_state)
        ).select_related("tag", "added_by"),
        to_attr="matched_tags",
    )


def _counted_states(tag_state: str) -> list[str]:
    if tag_state == TagStateFilter.CONFIRMED:
        return [TagState.CONFIRMED]
    return [TagState.CONFIRMED, TagState.SUGGESTED]


def _other_filters(
    photos: QuerySet[Photo], *, owner: str | None, status: str | None, text: str | None
) -> QuerySet[Photo]:
    if owner:
        photos = photos.filter(owner__username=owner)
    if status:
        photos = photos.filter(status=status)
    if text:
        photos = photos.filter(caption__icontains=text)
    return photos
