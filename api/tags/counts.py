"""Tag counts, kept in ``TagCount``: how many public photos carry each live tag, and how often
people confirmed and rejected the model's suggestions of it.

Counting at read time grew with the library: autocomplete counted every photo of every matching
tag on each keystroke (92 ms p95 at 100k photos), and the suppression rule grouped every decided
model suggestion whenever one was decided, which on a busy site meant in nearly every tagging
batch. Now one grouped pass over the tags runs in the background every ``TAG_COUNTS_SECONDS``;
reads take one row per tag. What that costs: another person's new public tag reaches
autocomplete within that interval, and a day-zero tag people voted down stops being suggested
as late. A photo that stops being public has its tags recounted at once (``recount_soon``), so
that a private photo's tag does not stay listed for others. The viewer's own photos are counted
live (``api.tags.selectors.search_tags``), or for a large library (``OWNER_COUNTS_FROM``)
read from ``OwnerTagCount``, counted here, with what changed since added live."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from api.celery import app
from api.photos.models import Photo, Visibility
from api.tags.models import (
    LIVE_STATES,
    ContributionCount,
    OwnerTagCount,
    PhotoTag,
    TagCount,
    TagSource,
    TagState,
    TagVote,
)

log = logging.getLogger(__name__)

REFRESH_COUNTS = "api.tags.tasks.refresh_counts"
# What the next model will learn is counted in the background too (api.training.vocabulary), and
# lists tag names to every member: sent by name, as the training side is not imported here.
REFRESH_VOCABULARY = "api.training.tasks.refresh_vocabulary"


# Set while a recount waits in the queue, so that a person making a thousand photos private
# sends one recount, not a thousand; the recount clears it as it starts.
RECOUNT_QUEUED = "tags:recount-queued"
RECOUNT_QUEUED_SECONDS = 30  # after this a recount counts as lost and the next change sends one

# Owners with at least this many photos have their tags counted here too (``OwnerTagCount``);
# a smaller library is counted live on each keystroke, in a few milliseconds.
OWNER_COUNTS_FROM = 2_000


def recount_soon() -> None:
    """A photo stopped being public: recount now rather than at the next beat, so its tags leave
    other people's autocomplete and the vocabulary within seconds. Best effort: when the broker
    is away, the beat's next refresh does it."""
    if not cache.add(RECOUNT_QUEUED, 1, timeout=RECOUNT_QUEUED_SECONDS):
        return
    for name in (REFRESH_COUNTS, REFRESH_VOCABULARY):
        try:
            app.send_task(name, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.1})
        except Exception:
            log.warning("could not send %s; beat's next refresh will recount", name, exc_info=True)


def refresh() -> int:
    """Recount every tag in one grouped query and replace the table's rows in one transaction, so
    a reader sees the old counts or the new ones, never half of each. A tag with nothing to count
    loses its row. Returns the number of tags counted."""
    cache.delete(RECOUNT_QUEUED)  # what changes from now on needs a recount of its own
    model = Q(source=TagSource.MODEL)
    counted = (
        PhotoTag.objects.values_list("tag_id")
        # One PhotoTag per photo and tag: counting rows counts photos, no DISTINCT needed.
        .annotate(
            public=Count("id", filter=Q(state__in=LIVE_STATES, photo__visibility=Visibility.PUBLIC)),
            confirmed=Count("id", filter=model & Q(state=TagState.CONFIRMED)),
            rejected=Count("id", filter=model & Q(state=TagState.REJECTED)),
        )
        .order_by()
    )
    now = timezone.now()
    rows = [
        TagCount(tag_id=tag_id, public_photos=public, model_confirmed=confirmed, model_rejected=rejected,
                 refreshed_at=now)
        for tag_id, public, confirmed, rejected in counted
        if public or confirmed or rejected
    ]  # fmt: skip
    owners = owner_rows(now)
    people = contribution_rows(now)
    with transaction.atomic():
        ContributionCount.objects.bulk_create(
            people,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["contributions", "refreshed_at"],
        )
        ContributionCount.objects.filter(refreshed_at__lt=now).delete()
        OwnerTagCount.objects.bulk_create(
            owners,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["owner", "tag"],
            update_fields=["public_photos", "other_photos", "refreshed_at"],
        )
        OwnerTagCount.objects.filter(refreshed_at__lt=now).delete()
        TagCount.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["tag"],
            update_fields=["public_photos", "model_confirmed", "model_rejected", "refreshed_at"],
        )
        TagCount.objects.filter(refreshed_at__lt=now).delete()
    return len(rows)


def owner_rows(now: datetime) -> list[OwnerTagCount]:
    """Each large library's live tags, counted by owner and tag in one grouped pass over their
    photos (the owners found first, from the photos' owner index)."""
    large = list(
        Photo.objects.values_list("owner_id")
        .annotate(n=Count("id"))
        .filter(n__gte=OWNER_COUNTS_FROM)
        .values_list("owner_id", flat=True)
        .order_by()
    )
    if not large:
        return []
    public = Q(photo__visibility=Visibility.PUBLIC)
    counted = (
        PhotoTag.objects.filter(photo__owner_id__in=large, state__in=LIVE_STATES)
        .values_list("photo__owner_id", "tag_id")
        .annotate(public=Count("id", filter=public), other=Count("id", filter=~public))
        .order_by()
    )
    return [
        OwnerTagCount(
            owner_id=owner, tag_id=tag, public_photos=public_count, other_photos=other, refreshed_at=now
        )
        for owner, tag, public_count, other in counted
    ]


def contribution_rows(now: datetime) -> list[ContributionCount]:
    """Each person's contributions as ``api.tags.selectors.count_contributions`` counts them: tags
    they added, plus their votes on tags they did not add, in two grouped passes."""
    added = (
        PhotoTag.objects.filter(source=TagSource.USER, added_by__isnull=False)
        .values_list("added_by_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    voted = (
        TagVote.objects.exclude(photo_tag__source=TagSource.USER, photo_tag__added_by_id=F("user_id"))
        .values_list("user_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    total: dict[int, int] = {}
    for grouped in (added, voted):
        for user_id, n in grouped:
            total[user_id] = total.get(user_id, 0) + n
    return [ContributionCount(user_id=u, contributions=n, refreshed_at=now) for u, n in total.items()]
