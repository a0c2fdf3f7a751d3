"""Day-zero tags people have voted down for good.

The rule (docs/architecture.md, 'Suggestions: the community head and day zero'): a tag the model
suggested is no longer suggested by a day-zero head once people rejected its suggestions at least
``DAY_ZERO_SUPPRESS_REJECTIONS`` times and at least ``DAY_ZERO_SUPPRESS_RATIO`` times as often as
they confirmed them. A community head's own tags are never suppressed this way: its rejections
are explicit negatives the next training run learns from. The list is shown on the staff
dashboard. It is read from the tag counts beat keeps (``api.tags.counts``, every
``TAG_COUNTS_SECONDS``): one row per tag rejected often enough, where counting every decided
suggestion whenever one was decided cost a busy site's tagging batches more and more.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from api.tags.models import TagCount


@dataclass(frozen=True)
class Suppressed:
    tag: str
    rejected: int
    confirmed: int


def suppressed() -> list[Suppressed]:
    """Every suppressed tag with its counts, most rejected first, as of the last tag count."""
    ratio = settings.DAY_ZERO_SUPPRESS_RATIO
    rows = (
        TagCount.objects.filter(model_rejected__gte=settings.DAY_ZERO_SUPPRESS_REJECTIONS)
        .order_by("-model_rejected", "tag__name")
        .values_list("tag__name", "model_rejected", "model_confirmed")
    )
    return [Suppressed(name, rejected, confirmed) for name, rejected, confirmed in rows
            if rejected >= ratio * confirmed]  # fmt: skip


def suppressed_names() -> frozenset[str]:
    """What a worker leaves out of day-zero suggestions."""
    return frozenset(s.tag for s in suppressed())
