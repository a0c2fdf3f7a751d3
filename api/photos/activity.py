"""Uploads and tagging counted per minute as they happen, in ``ActivityMinute``: what the staff
dashboard's activity chart and throughput figures read, 60 rows for an hour whatever the size of
the library.

Each upload and each tagging batch adds to its minute's row with one upsert, the last statement
of its transaction, so the row's lock is held for a moment only and a rolled-back batch counts
nothing. Counted events, not photos: a photo deleted after it was tagged still counts in the
minute it was tagged, which is what throughput means."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from api.photos.models import ActivityMinute

KEPT_FOR = timedelta(days=2)  # the dashboard shows an hour; older rows are pruned


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def count(*, uploaded: int = 0, tagged: int = 0, at: datetime | None = None) -> None:
    """Add to the counts of the minute of ``at`` (now by default)."""
    if not uploaded and not tagged:
        return
    table = ActivityMinute._meta.db_table
    with connection.cursor() as cursor:
        # PostgreSQL and SQLite both add in place on a conflict; an ORM read-then-write would let
        # two workers' batches of the same minute overwrite each other.
        cursor.execute(
            f"INSERT INTO {table} (minute, uploaded, tagged) VALUES (%s, %s, %s) "
            f"ON CONFLICT (minute) DO UPDATE SET uploaded = {table}.uploaded + excluded.uploaded, "
            f"tagged = {table}.tagged + excluded.tagged",
            [minute_of(at or timezone.now()), uploaded, tagged],
        )


def per_minute(start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
    """(uploaded, tagged) for each counted minute from ``start`` up to, not including, ``end``."""
    rows = ActivityMinute.objects.filter(minute__gte=start, minute__lt=end)
    return {minute: (up, tag) for minute, up, tag in rows.values_list("minute", "uploaded", "tagged")}


def prune(now: datetime | None = None) -> int:
    """Forget minutes older than ``KEPT_FOR``; returns how many rows went."""
    deleted, _ = ActivityMinute.objects.filter(minute__lt=(now or timezone.now()) - KEPT_FOR).delete()
    return deleted


def count_from_photos(photos: QuerySet[Any], minutes: type[models.Model], since: datetime) -> int:
    """Fill ``minutes`` (the ``ActivityMinute`` model) from the photos' own timestamps since
    ``since``: what the migration that added the counts, and a benchmark that writes photos with
    COPY, start from. Two grouped reads over indexed ranges, run once. Returns the rows written."""
    counted: dict[datetime, list[int]] = {}
    for position, field in enumerate(("created_at", "tagged_at")):
        grouped = (
            photos.filter(**{f"{field}__gte": since})
            .annotate(minute=TruncMinute(field))
            .values("minute")
            .annotate(n=Count("id"))
            .values_list("minute", "n")
            .order_by()
        )
        for minute, n in grouped:
            counted.setdefault(minute, [0, 0])[position] += n
    rows = [minutes(minute=m, uploaded=up, tagged=tag) for m, (up, tag) in counted.items()]
    minutes.objects.bulk_create(  # type: ignore[attr-defined]
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["minute"],
        update_fields=["uploaded", "tagged"],
    )
    return len(rows)
