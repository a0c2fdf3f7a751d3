"""The worker's side of tagging: run the loaded model over claimed batches and report a
heartbeat. Imported only in worker processes (it pulls in torch)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from api.photos import storage
from api.photos.models import Photo
from api.tagging.models import WorkerStatus
from api.tagging.runtime import ModelRuntime
from api.tagging.services import TaggingResult, apply_results, claim_batch, mark_failed
from trainer.gpu import gpu_stats
from trainer.inference import Tagger

log = logging.getLogger(__name__)


def _failure_reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "The original file is missing from the shared volume."
    return f"The image could not be read for tagging: {error}"


def tag_batch(photos: Sequence[Photo], *, tagger: Tagger, worker: str) -> int:
    """Tags one claimed batch; a photo that fails is marked failed alone. Returns photos tagged."""
    sources = [storage.original_path(p.content_hash, p.file_ext) for p in photos]
    predictions = tagger.predict_sources(sources)
    results: list[TaggingResult] = []
    for photo, prediction in zip(photos, predictions, strict=True):
        if isinstance(prediction, Exception):
            log.warning("photo %s failed: %s", photo.pk, prediction)
            mark_failed(photo_id=photo.pk, worker=worker, reason=_failure_reason(prediction))
            continue
        suggestions = tagger.suggestions(prediction, settings.TAGGER_MAX_SUGGESTIONS)
        results.append(TaggingResult(photo.pk, [(s.tag, s.score) for s in suggestions], prediction.embedding))
    return apply_results(worker=worker, results=results, version=tagger.version, backbone=tagger.backbone_id)


def tag_until_done(*, worker: str, runtime: ModelRuntime) -> int:
    """Claims and tags batches until none is left, checking for a new model between batches."""
    total = 0
    while True:
        tagger = runtime.current()
        photos = claim_batch(worker=worker, size=settings.TAGGER_BATCH_SIZE, active_version=tagger.version)
        if not photos:
            heartbeat(worker=worker, runtime=runtime, tagged=0)
            return total
        done = tag_batch(photos, tagger=tagger, worker=worker)
        total += done
        heartbeat(worker=worker, runtime=runtime, tagged=done)


def heartbeat(*, worker: str, runtime: ModelRuntime, tagged: int) -> None:
    tagger = runtime.tagger
    device = str(tagger.device) if tagger else "cpu"
    gpus = gpu_stats()
    now = timezone.now()
    values = {
        "device": device,
        "gpus": gpus,
        "model_version": tagger.version if tagger else None,
        "model_error": runtime.error,
        "last_seen": now,
    }
    # Create first, then add with F(): two threads of one worker never lose each other's count.
    WorkerStatus.objects.get_or_create(name=worker, defaults={**values, "started_at": now})
    WorkerStatus.objects.filter(name=worker).update(photos_tagged=F("photos_tagged") + tagged, **values)
