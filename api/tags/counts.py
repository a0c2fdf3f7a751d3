"""Tag counts, kept in ``TagCount``: how many public photos carry each live tag, and how often
people confirmed and rejected the model's suggestions of it.

Counting at read time grew with the library: autocomplete counted every photo of every matching
tag on each keystroke (92 ms p95 at 100k photos), and the suppression rule grouped every decided
model suggestion whenever one was decided, which on a busy site meant in nearly every tagging
batch. Now one grouped pass over the tags runs in the background every ``TAG_COUNTS_SECONDS``;
reads take one row per tag. What that costs: another person's new public tag reaches
autocomplete within that interval, and a day-zero tag people voted down stops being suggested
as late. A photo that stops being public has its tags recounted at once (``recount_soon``), so
that a private photo's tag does not stay listed for others. The viewer's own photos are always
counted live (``api.tags.selectors.search_tags``)."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from api.celery import app
from api.photos.models import Visibility
from api.tags.models import LIVE_STATES, PhotoTag, TagCount, TagSource, TagState

log = logging.getLogger(__name__)

REFRESH_COUNTS = "api.tags.tasks.refresh_counts"
# What the next model will learn is counted in the background too (api.training.vocabulary), and
# lists tag names to every member: sent by name, as the training side is not imported here.
REFRESH_VOCABULARY = "api.training.tasks.refresh_vocabulary"


# Set while a recount waits in the queue, so that a person making a thousand photos private
# sends one recount, not a thousand; the recount clears it as it starts.
RECOUNT_QUEUED = "tags:recount-queued"
RECOUNT_QUEUED_SECONDS = 30  # after this a recount counts as lost and the next change sends one


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
    with transaction.atomic():
        TagCount.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["tag"],
            update_fields=["public_photos", "model_confirmed", "model_rejected", "refreshed_at"],
        )
        TagCount.objects.filter(refreshed_at__lt=now).delete()
    return len(rows)
