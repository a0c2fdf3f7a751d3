"""Tagging photos: claiming work, writing the model's suggestions, and recovering from dead
workers. Free of torch: the web process imports this to wake workers; the model side lives in
``api.tagging.worker``. The database is the truth about work (docs/architecture.md, 'The work
queue'): a Celery message only wakes a worker, which claims batches until nothing is left.
Messages are sent by task name, so this module never imports the tasks that call it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from api.celery import app
from api.photos import activity
from api.photos.models import Photo, TaggingStatus
from api.tagging import retag
from api.tagging.models import PhotoEmbedding, WorkerStatus
from api.tagging.plan import Existing, plan
from api.tagging.retag import other_versions, retag_due
from api.tagging.similarity import flag_near_duplicates
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote
from api.volume import models_dir
from trainer import bundle

log = logging.getLogger(__name__)
# The names the tagging queue's tasks are registered under (``api.tagging.tasks``).
TAG_PENDING = "api.tagging.tasks.tag_pending"
SWEEP = "api.tagging.tasks.sweep"


# Drawn once per start of a process. A restarted container comes back with the same host name
# and, its processes started in the same order, the same pids: without this it would take over
# the row (start time, count) and the claims of the process it replaces.
_STARTED_AS = secrets.token_hex(4)


def worker_name() -> str:
    """Who claims photos and reports a heartbeat: host, pid and this start's token."""
    return f"{socket.gethostname()}:{os.getpid()}:{_STARTED_AS}"


# ------------------------------------------------------------------ waking workers


def request_tagging() -> None:
    """Wakes a tagging worker once the current transaction commits. A broker that is down loses
    nothing: the photos stay pending and the periodic sweep wakes a worker later."""
    transaction.on_commit(_send_wake_up)


# Set while a wake-up waits in the queue. A worker that takes one clears it before it claims, so
# whatever commits after that sends a new one; until then one queued wake-up covers every upload
# (a burst of 1,000 uploads used to leave ~990 messages that each cost the worker an empty claim).
WAKE_UP_QUEUED = "tagging:wake-up-queued"
WAKE_UP_QUEUED_SECONDS = 10  # after this a wake-up counts as lost and the next upload sends one


def _send_wake_up() -> None:
    if not cache.add(WAKE_UP_QUEUED, 1, timeout=WAKE_UP_QUEUED_SECONDS) and cache.get(WAKE_UP_QUEUED):
        return
    try:
        app.send_task(TAG_PENDING, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.1})
    except Exception:
        log.warning("could not wake a tagging worker; the sweep will", exc_info=True)


def wake_up_taken() -> None:
    """Called by a worker before it claims: uploads from now on need a wake-up of their own."""
    cache.delete(WAKE_UP_QUEUED)


def active_version() -> int | None:
    """The version CURRENT names, or None when there is none or it cannot be read."""
    try:
        return bundle.current_version(models_dir())
    except bundle.BundleError:
        return None


# ------------------------------------------------------------------ claiming


def _lock_ids(photos: QuerySet[Photo], limit: int) -> list[int]:
    if limit <= 0:
        return []
    if connection.features.has_select_for_update_skip_locked:
        # Two workers never wait on each other's rows; each takes what is free.
        photos = photos.select_for_update(skip_locked=True, of=("self",))
    return list(photos.values_list("id", flat=True)[:limit])


def _stale_claimable(
    active_version: int, limit: int, *, embedded_in: str = "", besides: Sequence[int] = ()
) -> list[int]:
    """Up to ``limit`` unclaimed photos of other versions, newest version first and newest photo
    first within it: each range walks ``photo_retag_idx`` backwards and stops at the limit, so a
    claim costs the same with ten photos due or a million. ``embedded_in``: only photos with an
    embedding in that space (re-scored without a decode)."""
    ids: list[int] = []
    base = Photo.objects.filter(status=TaggingStatus.TAGGED, claimed_at__isnull=True).exclude(id__in=besides)
    if embedded_in:
        base = base.filter(Exists(PhotoEmbedding.objects.filter(photo=OuterRef("pk"), backbone=embedded_in)))
    for versions in other_versions(active_version):
        ids += _lock_ids(base.filter(versions).order_by("-model_version", "-id"), limit - len(ids))
    return ids


def _unclaimed_pending() -> QuerySet[Photo]:
    return Photo.objects.filter(status=TaggingStatus.PENDING, claimed_at__isnull=True)


def claim_batch(
    *, worker: str, size: int, active_version: int | None, rescore_size: int = 0, space: str = ""
) -> list[Photo]:
    """Atomically claims up to ``size`` photos: new uploads first, then photos tagged by another
    model version (re-tagging runs at a lower priority than uploads). When no upload waits, a
    claim of re-tags takes up to ``rescore_size`` photos with an embedding in ``space`` (the
    active model's), which are re-scored from it, then fills up to ``size`` with any others: a
    re-tag of the whole library goes in large batches, and an upload waits for one at most.
    Works on PostgreSQL (SKIP LOCKED) and on SQLite (one writer at a time, and a conditional
    update)."""
    now = timezone.now()
    stale: list[int] = []
    with transaction.atomic():
        ids = _lock_ids(_unclaimed_pending().order_by("id"), size)
        if active_version is not None and len(ids) < size:
            if not ids and space and rescore_size > size:
                stale = _stale_claimable(active_version, rescore_size, embedded_in=space)
            if len(ids) + len(stale) < size:
                stale += _stale_claimable(active_version, size - len(ids) - len(stale), besides=stale)
        ids += stale
        if ids:
            Photo.objects.filter(id__in=ids, claimed_at__isnull=True).update(
                claimed_at=now, claimed_by=worker
            )
    if active_version is not None:
        if stale:
            retag.note_started(active_version, claimed=len(stale))
        elif not ids:  # the loop's last claim: nothing at all was left
            retag.note_finished(active_version)
    if not ids:
        return []
    return list(Photo.objects.filter(id__in=ids, claimed_by=worker, claimed_at=now).order_by("id"))


def alive_cutoff() -> datetime:
    """A worker last seen before this is dead: its heartbeat thread beats even while it tags, so
    three missed beats mean the process is gone (killed, crashed, or its machine is)."""
    return timezone.now() - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS)


def release_stale_claims(*, older_than: timedelta) -> int:
    """Claims left by a worker that died go back to the pool: those of a worker whose heartbeat
    stopped (freed within seconds), and any claim older than a batch can take (a worker that never
    beat, or one that gave up on its batch). A worker wrongly thought dead loses nothing either:
    it writes only photos still claimed by it."""
    silent = WorkerStatus.objects.filter(last_seen__lt=alive_cutoff()).values("name")
    stale = Q(claimed_at__lt=timezone.now() - older_than) | Q(claimed_by__in=silent)
    return Photo.objects.filter(stale, claimed_at__isnull=False).update(claimed_at=None, claimed_by="")


def release_claims(*, worker: str, photo_ids: Sequence[int]) -> int:
    """Gives a worker's claims on these photos back to the queue (its loop failed mid-batch)."""
    return Photo.objects.filter(pk__in=photo_ids, claimed_by=worker).update(claimed_at=None, claimed_by="")


def unclaimed_work(*, active_version: int | None, most: int) -> int:
    """Photos no worker has claimed yet, uploads and re-tagging together, counted up to ``most``
    (a bounded count: the backlog may be a whole library)."""
    pending = _unclaimed_pending().order_by()[:most].count()
    if pending >= most or active_version is None:
        return pending
    stale = retag_due(active_version).filter(claimed_at__isnull=True).order_by()
    return pending + stale[: most - pending].count()


def work_waiting(active_version: int | None) -> bool:
    return unclaimed_work(active_version=active_version, most=1) > 0


# ------------------------------------------------------------------ writing results


@dataclass(frozen=True)
class TaggingResult:
    photo_id: int
    suggestions: Sequence[tuple[str, float, int]]  # tag, score, the version that made it
    embedding: np.ndarray | None  # float16; None when re-scored from the stored one


def store_embeddings(*, vectors: Mapping[int, np.ndarray], backbone: str) -> None:
    """Each photo's embedding of ``backbone`` as float16 bytes, replacing what was stored for it
    in that space (its embeddings of other backbones stay)."""
    PhotoEmbedding.objects.bulk_create(
        [
            PhotoEmbedding(
                photo_id=photo_id,
                backbone=backbone,
                dim=int(vector.shape[0]),
                vector=vector.astype("float16", copy=False).tobytes(),
                vec=vector,
            )
            for photo_id, vector in vectors.items()
        ],
        update_conflicts=True,
        unique_fields=["photo", "backbone"],
        update_fields=["dim", "vector", "vec", "updated_at"],
    )


def vector_of(raw: bytes | memoryview) -> np.ndarray:
    """A stored embedding's bytes as the float16 vector ``store_embeddings`` wrote."""
    return np.frombuffer(bytes(raw), dtype=np.float16)


def stored_embeddings(photo_ids: Sequence[int], *, backbone: str) -> dict[int, np.ndarray]:
    """The photos' stored embeddings of ``backbone`` (float16), by photo id."""
    rows = PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone)
    return {pk: vector_of(v) for pk, v in rows.values_list("photo_id", "vector")}


def apply_results(*, worker: str, results: Sequence[TaggingResult], version: int, backbone: str) -> int:
    """Writes a batch's model tags in one transaction and a handful of queries, by the rule of
    ``api.tagging.plan``: never re-adds a tag a person rejected, never touches tags people added,
    confirmed or voted on, and replaces old suggestions nobody has reviewed. Each suggestion
    keeps the version that made it (the served one, or its day-zero fallback). Photos that are
    gone or were taken over by another worker are skipped. Returns the photos written."""
    now = timezone.now()
    with transaction.atomic():
        was = dict(
            Photo.objects.select_for_update()
            .filter(pk__in=[r.photo_id for r in results], claimed_by=worker)
            .values_list("pk", "status")
        )
        mine = set(was)
        results = [r for r in results if r.photo_id in mine]
        rows, existing = current_tags(mine)
        names = {name for r in results for name, _, _ in r.suggestions}
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))

        stale: list[int] = []
        fresh: list[PhotoTag] = []
        rescored: list[PhotoTag] = []
        for result in results:
            wanted = {name: (score, made_by) for name, score, made_by in result.suggestions}
            steps = plan(existing[result.photo_id], {name: score for name, (score, _) in wanted.items()})
            mine_rows = rows[result.photo_id]
            stale += [mine_rows[name].pk for name in steps.stale]
            for name in steps.fresh:
                score, made_by = wanted[name]
                fresh.append(
                    PhotoTag(photo_id=result.photo_id, tag_id=tag_ids[name], source=TagSource.MODEL,
                             state=TagState.SUGGESTED, score=score, model_version=made_by)
                )  # fmt: skip
            for name in steps.rescored:
                old = mine_rows[name]
                old.score, old.model_version = wanted[name]
                old.updated_at = now
                rescored.append(old)
        PhotoTag.objects.filter(pk__in=stale).delete()
        PhotoTag.objects.bulk_create(fresh)
        PhotoTag.objects.bulk_update(rescored, ["score", "model_version", "updated_at"])
        # Only new embeddings: a re-scored photo's is unchanged, and rewriting it would cost an
        # index update and a nearest-photo search per photo for nothing.
        embedded = {r.photo_id: r.embedding for r in results if r.embedding is not None}
        if embedded:
            store_embeddings(vectors=embedded, backbone=backbone)
            # In the same transaction as "tagged", so whoever sees the tags also sees the flag.
            flag_near_duplicates(vectors=embedded, backbone=backbone)
        retag.count_done(version, sum(1 for r in results if was[r.photo_id] == TaggingStatus.TAGGED))
        tagged = Photo.objects.filter(pk__in=mine).update(
            status=TaggingStatus.TAGGED, status_reason="", model_version=version, tagged_at=now,
            claimed_at=None, claimed_by="",
        )  # fmt: skip
        activity.count(tagged=tagged, at=now)
    return len(results)


def current_tags(
    photo_ids: Collection[int],
) -> tuple[dict[int, dict[str, PhotoTag]], dict[int, dict[str, Existing]]]:
    """Each photo's tags by name, as rows and as the plan sees them (with whether anyone voted)."""
    rows: dict[int, dict[str, PhotoTag]] = defaultdict(dict)
    for pt in PhotoTag.objects.filter(photo_id__in=photo_ids).select_related("tag"):
        rows[pt.photo_id][pt.tag.name] = pt
    reviewed = set(
        TagVote.objects.filter(photo_tag__photo_id__in=photo_ids).values_list("photo_tag_id", flat=True)
    )
    existing = defaultdict(
        dict,
        {
            photo_id: {
                name: Existing(source=pt.source, state=pt.state, score=pt.score, reviewed=pt.pk in reviewed)
                for name, pt in tags.items()
            }
            for photo_id, tags in rows.items()
        },
    )
    return rows, existing


def retry_failed_photos(*, user: User, photo_ids: Sequence[int] | None = None) -> int:
    """Staff only: failed photos (``photo_ids``, or all of them) go back to pending and a worker
    is woken. Photos that are not failed (any more) are left alone, so pressing twice is safe.
    Returns how many were put back."""
    if not user.is_staff:
        raise PermissionDenied("Only staff can retry failed photos.")
    with transaction.atomic():
        photos = Photo.objects.filter(status=TaggingStatus.FAILED)
        if photo_ids is not None:
            photos = photos.filter(pk__in=photo_ids)
        retried = photos.update(
            status=TaggingStatus.PENDING, status_reason="", claimed_at=None, claimed_by=""
        )
        if retried:
            request_tagging()
    return retried


def mark_failed(*, photo_id: int, worker: str, reason: str) -> None:
    Photo.objects.filter(pk=photo_id, claimed_by=worker).update(
        status=TaggingStatus.FAILED, status_reason=reason[:500], claimed_at=None, claimed_by=""
    )
