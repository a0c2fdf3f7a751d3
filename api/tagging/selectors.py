"""What the status page and /api/system/ show: the active model, the backlog, throughput and
each worker's heartbeat. Read from the database and the shared volume, never from Celery."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from api.photos import activity
from api.photos.models import Photo, TaggingStatus
from api.tagging import backbone_switch, retag
from api.tagging.models import WorkerStatus
from api.tagging.retag import retag_due
from api.tagging.services import alive_cutoff
from api.volume import models_dir
from trainer import bundle
from trainer.gpu import gpu_stats


def active_model() -> dict[str, Any]:
    folder = models_dir()
    try:
        version = bundle.current_version(folder)
        if version is None:
            return {
                "version": None,
                "error": "No model is published yet; the first worker publishes version 0.",
            }
        manifest = bundle.read_manifest(folder, version)
    except bundle.BundleError as error:
        return {"version": None, "error": str(error)}
    return {
        "version": version,
        "backbone": manifest.embedding_space,
        "tags": len(manifest.tags),
        "created_at": manifest.created_at,
        "metrics": manifest.metrics,
        "error": "",
        "configured_backbone": settings.TAGGER_BACKBONE,
        "backbone_note": ""
        if manifest.backbone.id == settings.TAGGER_BACKBONE
        else f"TAGGER_BACKBONE names {settings.TAGGER_BACKBONE}; the active model stands on "
        f"{manifest.backbone.id} and keeps serving while workers embed the library with "
        f"{settings.TAGGER_BACKBONE} (see backbone_switch): the first model trained on it takes over "
        "when the gate accepts it.",
    }


def backlog(active_version: int | None, progress: retag.Progress | None) -> dict[str, int]:
    # A count each: each reads only its index (few photos wait), where one aggregate with
    # filters would read every photo.
    counts = {
        "pending": Photo.objects.filter(status=TaggingStatus.PENDING).count(),
        "failed": Photo.objects.filter(status=TaggingStatus.FAILED).count(),
        "in_progress": Photo.objects.filter(claimed_at__isnull=False).count(),
        "retagging": 0,
    }
    if active_version is not None:
        counts["retagging"] = retagging(active_version, progress)
    return counts


# Before the progress row of a re-tag exists (no worker has claimed for the new version yet), the
# photos due are counted up to this many: a count of them all would read the whole index.
RETAG_COUNTED_UP_TO = 10_000


def retagging(active_version: int, progress: retag.Progress | None) -> int:
    """Photos still to re-tag for the active version: what its progress row (``retag.progress()``)
    says is left, or before one exists a count of those due, bounded by ``RETAG_COUNTED_UP_TO``."""
    if progress is not None and progress.version == active_version:
        return progress.left
    due = retag_due(active_version).filter(claimed_at__isnull=True).order_by()
    return due[:RETAG_COUNTED_UP_TO].count()


def throughput() -> dict[str, float]:
    """Photos tagged in the last 5 and 60 minutes and uploaded in the last 60, from the per-minute
    counts (``api.photos.activity``): whole minutes, the one under way included."""
    now = timezone.now()
    counted = activity.per_minute(activity.minute_of(now) - timedelta(minutes=59), now + timedelta(minutes=1))
    recent = activity.minute_of(now) - timedelta(minutes=4)
    last_5 = sum(tagged for minute, (_, tagged) in counted.items() if minute >= recent)
    return {
        "last_5_minutes": last_5,
        "last_hour": sum(tagged for _, tagged in counted.values()),
        "per_minute_5m": round(last_5 / 5, 2),
        "uploaded_last_hour": sum(uploaded for uploaded, _ in counted.values()),
    }


def activity_chart(*, minutes: int = 60, now: datetime | None = None) -> dict[str, list[int]]:
    """Photos uploaded and photos tagged (re-tags included) in each of the last ``minutes`` whole
    minutes before ``now``, oldest first: when uploads outrun tagging, the backlog grows. The
    minute under way is left out; half of it would read as a drop."""
    end = activity.minute_of(now or timezone.now())
    start = end - timedelta(minutes=minutes)
    counted = activity.per_minute(start, end)
    moments = [start + timedelta(minutes=i) for i in range(minutes)]
    return {
        "uploaded": [counted.get(m, (0, 0))[0] for m in moments],
        "tagged": [counted.get(m, (0, 0))[1] for m in moments],
    }


def failed_photos(*, limit: int = 20) -> list[Photo]:
    """The latest photos the worker could not tag, with their reasons."""
    return list(
        Photo.objects.filter(status=TaggingStatus.FAILED)
        .select_related("owner")
        .only("id", "owner__username", "status_reason", "created_at", "visibility", "caption")
        .order_by("-id")[:limit]
    )


def workers() -> list[dict[str, Any]]:
    alive_after = alive_cutoff()
    return [
        {
            "name": w.name,
            "device": w.device,
            "gpus": w.gpus,
            "model_version": w.model_version,
            "model_error": w.model_error,
            "photos_tagged": w.photos_tagged,
            "started_at": w.started_at,
            "last_seen": w.last_seen,
            "alive": w.last_seen >= alive_after,
        }
        for w in WorkerStatus.objects.all()
    ]


def refused_by_workers(version: int | None, live: list[dict[str, Any]]) -> str:
    """Why workers are not serving the version CURRENT names, in their words ('' when they are):
    a damaged bundle is refused and the model they had keeps serving."""
    reasons = {
        f"{w['model_error']} Workers keep serving version {w['model_version']}."
        for w in live
        if w["alive"] and w["model_error"] and w["model_version"] != version
    }
    return " ".join(sorted(reasons))


def active_model_as_served(live: list[dict[str, Any]]) -> dict[str, Any]:
    """The active model, whose ``error`` also says when the workers refused it."""
    model = active_model()
    if model["version"] is not None and not model["error"]:
        model["error"] = refused_by_workers(model["version"], live)
    return model


def system_status() -> dict[str, Any]:
    live = workers()
    model = active_model_as_served(live)
    progress = retag.progress()
    gpus = gpu_stats()
    return {
        "active_model": model,
        "backlog": backlog(model["version"], progress),
        # The newest re-tag of the library: version, total, done, left, percent, started, finished.
        "retag": asdict(progress) if progress else None,
        "throughput": throughput(),
        "workers": live,
        # While TAGGER_BACKBONE names another backbone: the new embeddings' backlog, else None.
        "backbone_switch": switch.to_dict() if (switch := backbone_switch.status()) else None,
        # The API host's own view; each worker reports its GPUs in its heartbeat.
        "gpus": gpus or "cpu",
    }
