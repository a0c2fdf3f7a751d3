"""What the staff dashboard reads about models and training: per-tag quality of a version, and
when the schedule last checked for new labels and will check next."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache

from api.training.labels import vocabulary
from api.training.models import ModelVersion, TrainingRun
from api.training.vouched import collect_labels

# The beat entry of the training check (settings.CELERY_BEAT_SCHEDULE) and where each check
# leaves its time and outcome: beat keeps its own bookkeeping in a file only the trainer sees.
SCHEDULE_ENTRY = "training-schedule-check"
LAST_CHECK_KEY = "training:last-schedule-check"
VOCABULARY_KEY = "training:next-vocabulary"

QUALITY_COLUMNS = ("tag", "precision", "recall", "f1", "support", "threshold", "ap")
DEFAULT_QUALITY_SORT = "-f1"


class BadSort(ValueError):
    pass


def parse_quality_sort(raw: str | None) -> tuple[str, bool]:
    """``f1`` sorts ascending, ``-f1`` descending; anything else is refused with the choices."""
    raw = (raw or DEFAULT_QUALITY_SORT).strip()
    column, descending = raw.removeprefix("-"), raw.startswith("-")
    if column not in QUALITY_COLUMNS:
        raise BadSort(
            f"The per-tag table cannot be sorted by {column!r}; choose one of {', '.join(QUALITY_COLUMNS)} "
            "(a leading '-' sorts from high to low)."
        )
    return column, descending


def per_tag_quality(
    version: ModelVersion | None, *, column: str = "f1", descending: bool = True
) -> list[dict[str, Any]] | None:
    """One row per tag of the version, sorted; None when the version was never measured per tag
    (version 0, the ImageNet classifier, and bundles from before per-tag metrics)."""
    per_tag = (version.metrics or {}).get("per_tag") if version is not None else None
    if not per_tag:
        return None
    rows = [
        {"tag": tag, **{c: values.get(c) for c in QUALITY_COLUMNS[1:]}} for tag, values in per_tag.items()
    ]
    known = [r for r in rows if r[column] is not None]
    # Unmeasured values (a tag without validation positives has no AP) go last either way.
    known.sort(key=lambda r: (r[column], r["tag"]), reverse=descending)
    return known + sorted((r for r in rows if r[column] is None), key=lambda r: r["tag"])


def next_vocabulary() -> tuple[list[str], dict[str, int]]:
    """The tags the next model will learn and those still short (with their vouched-for photos),
    exactly as the trainer counts them, as last counted. Counting walks every label, which grows
    with the library, so it runs in the background (``refresh_vocabulary``: beat, every
    ``TAG_COUNTS_SECONDS``, and at once when a photo stops being public), never per page. Only
    when no count is on record (a cache emptied by a restart) does a read count, once."""
    cached = cache.get(VOCABULARY_KEY)
    if cached is not None and cached[0] == _counted_under():
        return cached[1], cached[2]
    return refresh_vocabulary()


def refresh_vocabulary() -> tuple[list[str], dict[str, int]]:
    names, close = vocabulary(collect_labels().labels)
    # Kept for ten intervals: should beat stop, a read counts afresh rather than show an old list.
    timeout = max(600, 10 * settings.TAG_COUNTS_SECONDS)
    cache.set(VOCABULARY_KEY, (_counted_under(), names, close), timeout=timeout)
    return names, close


def _counted_under() -> tuple[float, ...]:
    """The settings a count depends on: a count made under others is not the answer."""
    return (settings.MIN_PHOTOS_PER_TAG, settings.TRAIN_MIN_TRUST, settings.TAG_CONFIRMATIONS_REQUIRED)


def labels_still_needed(tags: Collection[str]) -> dict[str, int]:
    """For each tag, how many more vouched-for photos it needs to enter the next model (0: enough)."""
    names, close = next_vocabulary()
    minimum = settings.MIN_PHOTOS_PER_TAG
    return {tag: 0 if tag in names else minimum - close.get(tag, 0) for tag in tags}


@dataclass(frozen=True)
class ScheduleStatus:
    every: timedelta | None  # None: beat has no training check configured
    last_at: datetime | None
    last_result: str
    next_at: datetime | None
    last_run: TrainingRun | None  # the latest run the schedule started


def schedule_status() -> ScheduleStatus:
    entry = settings.CELERY_BEAT_SCHEDULE.get(SCHEDULE_ENTRY)
    every = timedelta(seconds=float(cast(float, entry["schedule"]))) if entry else None
    last = cache.get(LAST_CHECK_KEY) or {}
    last_at = last.get("at")
    return ScheduleStatus(
        every=every,
        last_at=last_at,
        last_result=last.get("result", ""),
        next_at=last_at + every if last_at is not None and every is not None else None,
        last_run=TrainingRun.objects.filter(trigger=TrainingRun.Trigger.SCHEDULE).first(),
    )
