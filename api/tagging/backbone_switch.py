"""Switching a running site to another backbone without stopping serving.

A switch is under way while ``TAGGER_BACKBONE`` names a backbone the active model does not stand
on. Nothing is flipped by hand; each step follows from the state in the database and the volume:

1. The active model keeps tagging uploads and serving suggestions on its own backbone.
2. The trainer publishes a day-zero bundle of the new backbone as the next version
   (``ensure_day_zero``, at its start and on its sweep; it alone numbers versions, so a
   candidate's number never collides with it): the fallback of the heads trained on it, and the
   model that computes its embeddings.
3. Tagging workers embed every tagged photo with the new backbone in the background, a batch per
   task (``embed_next``, task ``tagging.embed_for_switch``), yielding to photos waiting to be
   tagged. The backlog is in ``/api/system/`` and on the staff dashboard (``status``).
4. Once ``TRAIN_SWITCH_COVERAGE`` of the tagged photos have the new embedding, training runs
   train on the new backbone (``training_backbone``); until then they train on the serving one.
   The gate compares the first head on the new backbone with the active model on the same photos
   (it scores them through its own backbone); accepted, it is activated like any version, workers
   load it, re-tagging re-scores the stored new embeddings, and the switch is over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError

from api import volume
from api.celery import app
from api.photos.models import Photo, TaggingStatus
from api.tagging import services
from api.tagging.models import PhotoEmbedding
from api.tagging.spaces import serving_backbone
from trainer import bundle

if TYPE_CHECKING:
    from trainer.inference import Tagger

log = logging.getLogger(__name__)

# Set while an embedding task is queued or running; it expires, so a lost message only pauses the
# switch until the sweep sends another.
EMBED_FOR_SWITCH = "api.tagging.tasks.embed_for_switch"
CHAIN_KEY = "tagging:switch-embedding"
CHAIN_SECONDS = 1800  # longer than a queued task waits behind a long re-tag
_CURSOR_KEY = "tagging:switch-cursor:{}"
_taggers: dict[int, Tagger] = {}


@dataclass(frozen=True)
class SwitchStatus:
    serving: str
    target: str
    photos: int  # tagged photos
    embedded: int  # of them, with an embedding of the target backbone
    day_zero_version: int | None

    @property
    def backlog(self) -> int:
        return max(self.photos - self.embedded, 0)

    @property
    def coverage(self) -> float:
        return self.embedded / self.photos if self.photos else 1.0

    def to_dict(self) -> dict[str, object]:
        return {
            "from": self.serving,
            "to": self.target,
            "photos": self.photos,
            "embedded": self.embedded,
            "backlog": self.backlog,
            "coverage": round(self.coverage, 4),
            "trains_on_new_backbone_at": settings.TRAIN_SWITCH_COVERAGE,
            "day_zero_version": self.day_zero_version,
        }


def switching() -> tuple[str, str] | None:
    """(serving backbone, target backbone) while a switch is under way, else None."""
    serving = serving_backbone()
    if serving is None or serving == settings.TAGGER_BACKBONE:
        return None
    return serving, settings.TAGGER_BACKBONE


def status() -> SwitchStatus | None:
    pair = switching()
    if pair is None:
        return None
    serving, target = pair
    tagged = Photo.objects.filter(status=TaggingStatus.TAGGED)
    return SwitchStatus(
        serving=serving,
        target=target,
        photos=tagged.count(),
        embedded=PhotoEmbedding.objects.filter(backbone=target, photo__status=TaggingStatus.TAGGED).count(),
        day_zero_version=bundle.day_zero_for(volume.models_dir(), target),
    )


def training_backbone() -> str | None:
    """The backbone the next training run trains on: the new one once enough of the library has
    its embedding, else the serving one (None before any model)."""
    pair = switching()
    if pair is None:
        return serving_backbone()
    current = status()
    ready = current is not None and current.coverage >= settings.TRAIN_SWITCH_COVERAGE
    return pair[1] if ready else pair[0]


def ensure_day_zero(backbone: str) -> int:
    """The version of ``backbone``'s day-zero bundle, published as the next version if there is
    none. Two workers at once: the rename lets one win, and both return its version."""
    from api.training.registry import next_version, sync_versions_or_log
    from trainer.day_zero import publish_day_zero  # torch: the web process only reads the status

    folder = volume.models_dir()
    found = bundle.day_zero_for(folder, backbone)
    if found is not None:
        return found
    try:
        version = publish_day_zero(folder, backbone, version=next_version())
    except bundle.BundleError:
        found = bundle.day_zero_for(folder, backbone)
        if found is None:
            raise
        return found
    log.info("published the day-zero model of %s as version %s", backbone, version)
    sync_versions_or_log()
    return version


def prepare_or_log() -> None:
    """The trainer's part (at its start and on its sweep): the target's day-zero bundle, so the
    workers can embed. A volume that cannot be written is logged, never raised into the sweep."""
    pair = switching()
    if pair is None:
        return
    try:
        ensure_day_zero(pair[1])
    except Exception:
        log.warning("could not publish the day-zero model of %s", pair[1], exc_info=True)


@dataclass(frozen=True)
class Step:
    embedded: int  # photos embedded by this step
    more: bool  # whether this pass over the library has photos left
    wait: float = 0  # seconds before the next step (uploads waiting, no day-zero bundle yet)


def embed_next(*, batch: int) -> Step:
    """Embeds the next ``batch`` tagged photos that lack the target backbone's embedding, in one
    pass over the library by photo id (a cursor in the cache). Photos waiting to be tagged go
    first: then this does nothing and says to wait. A photo that cannot be read, or is deleted
    meanwhile, is passed over; the pass ends at the last photo, and the sweep starts the next
    one while photos are still missing, so a broken photo costs one decode per sweep, not a loop.
    The day-zero bundle of the target is published by the trainer (it alone numbers versions)."""
    pair = switching()
    if pair is None:
        return Step(0, more=False)
    if services.work_waiting(active_version=services.active_version()):
        return Step(0, more=True, wait=5)
    target = pair[1]
    day_zero = bundle.day_zero_for(volume.models_dir(), target)
    if day_zero is None:
        return Step(0, more=True, wait=30)
    cursor_key = _CURSOR_KEY.format(target)
    after = int(cache.get(cursor_key) or 0)
    missing = list(
        Photo.objects.filter(status=TaggingStatus.TAGGED, pk__gt=after)
        .exclude(embeddings__backbone=target)
        .order_by("pk")
        .only("pk", "content_hash", "file_ext")[:batch]
    )
    stored = _embed(missing, day_zero, target) if missing else 0
    full = len(missing) == batch
    cache.set(cursor_key, missing[-1].pk if full else 0, timeout=None)
    return Step(stored, more=full)


def _embed(photos: list[Photo], version: int, target: str) -> int:
    from api.tagging.worker import share_of_the_cores
    from trainer.inference import Prediction

    tagger = _tagger(version)
    with share_of_the_cores(tagger):
        results = tagger.predict_sources([volume.original_path(p.content_hash, p.file_ext) for p in photos])
    vectors = {
        photo.pk: result.embedding
        for photo, result in zip(photos, results, strict=True)
        if isinstance(result, Prediction)
    }
    # Photos deleted while their embedding was computed would fail the whole batch's upsert.
    alive = set(Photo.objects.filter(pk__in=list(vectors)).values_list("pk", flat=True))
    vectors = {pk: vector for pk, vector in vectors.items() if pk in alive}
    try:
        services.store_embeddings(vectors=vectors, backbone=target)
    except IntegrityError:  # one went in the last instant: the next pass embeds the others
        log.info("a photo was deleted while the switch embedded its batch; the next pass retries")
        return 0
    return len(vectors)


def request_embedding(*, countdown: float = 0, chained: bool = False) -> bool:
    """Queues the next embedding task. The sweep asks with ``chained=False`` and is refused while
    a chain is alive; a task continuing its own chain passes ``chained=True``. Whether it sent."""
    if chained:
        cache.set(CHAIN_KEY, 1, timeout=CHAIN_SECONDS)
    elif not cache.add(CHAIN_KEY, 1, timeout=CHAIN_SECONDS):
        return False
    try:
        app.send_task(EMBED_FOR_SWITCH, countdown=countdown)
    except Exception:
        cache.delete(CHAIN_KEY)
        log.warning("could not queue the backbone switch's embedding; the sweep will", exc_info=True)
        return False
    return True


def chain_done() -> None:
    cache.delete(CHAIN_KEY)


def _tagger(version: int) -> Tagger:
    """The day-zero model of the new backbone, loaded once per worker process."""
    if version not in _taggers:
        from trainer.inference import Tagger

        _taggers[version] = Tagger.load(volume.models_dir(), version, device=settings.TAGGER_DEVICE)
    return _taggers[version]
