"""What the staff dashboard reads about models and training: per-tag quality of a version, and
when the schedule last checked for new labels and will check next."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max

from api.photos.models import Photo
from api.tags.models import PhotoTag, TagVote
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
    exactly as the trainer counts them. Counting walks every label and vote, so the answer is
    kept until a tag, a vote or a photo changes (or ten minutes pass), not recounted per page.

    What says "changed": each table's row count (a row deleted), its highest id (one added) and
    its latest ``updated_at`` (one edited: every write to these rows sets it, bulk ones too).
    Any photo's edit counts, not only a tagged one's: a tagged photo made private must drop out
    at once, and a join to find the tagged ones cost more than the recount it saves."""
    fingerprint = {"n": Count("id"), "last": Max("id"), "changed": Max("updated_at")}
    key = repr(
        (sorted(PhotoTag.objects.aggregate(**fingerprint).items()),
         sorted(TagVote.objects.aggregate(**fingerprint).items()),
         sorted(Photo.objects.aggregate(**fingerprint).items()),
         settings.MIN_PHOTOS_PER_TAG, settings.TRAIN_MIN_TRUST, settings.TAG_CONFIRMATIONS_REQUIRED)
    )  # fmt: skip
    cached = cache.get(VOCABULARY_KEY)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    names, close = vocabulary(collect_labels().labels)
    cache.set(VOCABULARY_KEY, (key, names, close), timeout=600)
    return names, close


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
