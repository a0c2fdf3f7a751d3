"""Re-tagging the library when the active model changes: which photos are due, and the progress
row a status page reads instead of counting them.

What is due is the photos' own truth: a tagged photo whose ``model_version`` is not the active
one. Workers claim those after every waiting upload (``services.claim_batch``), so a re-tag
yields to fresh uploads batch by batch, and a photo with a stored embedding in the active
model's space is re-scored from it in a large batch, with no decode and no backbone pass. When
a newer version arrives mid-way it simply becomes what is due: the photos the old re-tag never
reached are re-tagged once, by the new version, never first by the old one.

The progress (``Retag``) is one row per version: how many photos were due when its re-tag
started, counted once, and how many have been re-tagged since, added by each batch in the
transaction that writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from api.photos.models import Photo, TaggingStatus
from api.tagging.models import Retag


def retag_due(active_version: int) -> QuerySet[Photo]:
    """Photos tagged by another model version than the active one (or by none recorded). Written
    as three ranges, not ``<>``, so the partial index ``photo_retag_idx`` answers each."""
    below, above, unknown = other_versions(active_version)
    return Photo.objects.filter(below | above | unknown, status=TaggingStatus.TAGGED)


def other_versions(active_version: int) -> tuple[Q, Q, Q]:
    return (
        Q(model_version__lt=active_version),
        Q(model_version__gt=active_version),
        Q(model_version__isnull=True),
    )


def note_started(version: int, *, claimed: int) -> None:
    """A worker just claimed ``claimed`` photos to re-tag for ``version``: the first such claim
    since the version became active starts its progress row, with the photos then due (one
    count of the re-tag index, once per version). A version back in service after a rollback
    starts afresh."""
    if Retag.objects.values_list("version", flat=True).first() == version:
        return  # the newest row is this version's: its re-tag is under way
    unclaimed = retag_due(version).filter(claimed_at__isnull=True).count()
    Retag.objects.update_or_create(
        version=version,
        defaults={"total": unclaimed + claimed, "done": 0, "started_at": timezone.now(), "finished_at": None},
    )


def count_done(version: int, photos: int) -> None:
    """A batch re-tagged ``photos`` for ``version``; called in the transaction that writes it."""
    if photos:
        Retag.objects.filter(version=version).update(done=F("done") + photos)


def note_finished(version: int) -> None:
    """A claim found nothing left to re-tag for ``version``."""
    Retag.objects.filter(version=version, finished_at__isnull=True).update(finished_at=timezone.now())


@dataclass(frozen=True)
class Progress:
    version: int
    total: int
    done: int
    left: int
    percent: int
    started_at: datetime
    finished_at: datetime | None


def progress() -> Progress | None:
    """The newest re-tag, as the status page and ``/api/system/`` show it; None before the first."""
    latest = Retag.objects.first()
    if latest is None:
        return None
    done = min(latest.done, latest.total)
    finished = latest.finished_at is not None
    return Progress(
        version=latest.version,
        total=latest.total,
        done=done,
        left=0 if finished else latest.total - done,
        percent=100 if finished else round(100 * done / max(1, latest.total)),
        started_at=latest.started_at,
        finished_at=latest.finished_at,
    )
