"""Day-zero tags people have voted down for good.

The rule (docs/architecture.md, 'Suggestions: the community head and day zero'): a tag the model
suggested is no longer suggested by a day-zero head once people rejected its suggestions at least
``DAY_ZERO_SUPPRESS_REJECTIONS`` times and at least ``DAY_ZERO_SUPPRESS_RATIO`` times as often as
they confirmed them. A community head's own tags are never suppressed this way: its rejections
are explicit negatives the next training run learns from. The list is shown on the staff
dashboard; it is kept in the shared cache (for ``CACHE_SECONDS`` at most) and dropped whenever a
model suggestion is decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q

from api.tags.models import PhotoTag, TagSource, TagState

CACHE_KEY = "tagging:suppressed-day-zero-tags:counts"  # the list with its counts (was: names)
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Suppressed:
    tag: str
    rejected: int
    confirmed: int


def suppressed() -> list[Suppressed]:
    """Every suppressed tag with its counts, most rejected first, read through the cache: the
    count groups every decided model suggestion, too much for each dashboard visit."""
    listed: list[Suppressed] | None = cache.get(CACHE_KEY)
    if listed is None:
        listed = _counted()
        cache.set(CACHE_KEY, listed, CACHE_SECONDS)
    return listed


def _counted() -> list[Suppressed]:
    rows = (
        PhotoTag.objects.filter(source=TagSource.MODEL, state__in=[TagState.CONFIRMED, TagState.REJECTED])
        .values("tag__name")
        .annotate(
            rejected=Count("id", filter=Q(state=TagState.REJECTED)),
            confirmed=Count("id", filter=Q(state=TagState.CONFIRMED)),
        )
        .filter(rejected__gte=settings.DAY_ZERO_SUPPRESS_REJECTIONS)
        .order_by("-rejected", "tag__name")
    )
    ratio = settings.DAY_ZERO_SUPPRESS_RATIO
    return [
        Suppressed(row["tag__name"], row["rejected"], row["confirmed"])
        for row in rows
        if row["rejected"] >= ratio * row["confirmed"]
    ]


def suppressed_names() -> frozenset[str]:
    """What a worker leaves out of day-zero suggestions."""
    return frozenset(s.tag for s in suppressed())


def forget() -> None:
    """A model suggestion was decided: the next batch reads the rule afresh."""
    cache.delete(CACHE_KEY)
