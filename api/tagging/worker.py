"""The worker's side of tagging: run the loaded model over claimed batches and report a
heartbeat. Imported only in worker processes (it pulls in torch)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from PIL import UnidentifiedImageError

from api import volume
from api.photos.models import Photo
from api.tagging.models import WorkerStatus
from api.tagging.pool import claim_size, pool_processes, torch_threads, usable_cores
from api.tagging.runtime import ModelRuntime
from api.tagging.services import (
    TaggingResult,
    apply_results,
    claim_batch,
    mark_failed,
    release_claims,
    request_tagging,
    stored_embeddings,
    unclaimed_work,
)
from api.tagging.suppression import suppressed_names
from trainer.gpu import gpu_stats
from trainer.inference import Tagger

log = logging.getLogger(__name__)


def _failure_reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "The original file is missing from the shared volume."
    if isinstance(error, UnidentifiedImageError):
        # Pillow's own message names an in-memory buffer, which tells a person nothing.
        return "The image could not be read for tagging: its format is not one the tagger knows."
    return f"The image could not be read for tagging: {error}"


def _sources(photos: Sequence[Photo]) -> list[Path]:
    return [volume.original_path(p.content_hash, p.file_ext) for p in photos]


def tag_batch(photos: Sequence[Photo], *, tagger: Tagger, worker: str, claimed: _Claimed | None = None,
              decoded: Sequence[torch.Tensor | Exception] = ()) -> int:  # fmt: skip
    """Tags one claimed batch: photos with a stored embedding of ``tagger``'s backbone are
    re-scored from it (no decode, no backbone pass), the others run through the model from their
    ``decoded`` pixels, in order. A photo that fails is marked failed alone. Returns photos
    tagged."""
    stored = claimed.stored if claimed is not None else {}
    pixels = iter(tagger.predict_decoded(decoded))
    rescored = iter(tagger.predict_embeddings(np.stack([stored[p.pk] for p in photos if p.pk in stored]))
                    if stored else [])  # fmt: skip
    suppressed = suppressed_names()
    results: list[TaggingResult] = []
    for photo in photos:
        prediction = next(rescored) if photo.pk in stored else next(pixels)
        if isinstance(prediction, Exception):
            log.warning("photo %s failed: %s", photo.pk, prediction)
            mark_failed(photo_id=photo.pk, worker=worker, reason=_failure_reason(prediction))
            continue
        suggestions = tagger.suggestions(prediction, settings.TAGGER_MAX_SUGGESTIONS, suppressed)
        embedding = None if photo.pk in stored else prediction.embedding  # a stored one is kept
        results.append(TaggingResult(photo.pk, [(s.tag, s.score, s.version) for s in suggestions], embedding))
    return apply_results(worker=worker, results=results, version=tagger.version, backbone=tagger.backbone_id)


def tag_until_done(*, worker: str, runtime: ModelRuntime) -> int:
    """Claims and tags batches until none is left, checking for a new model between batches.

    In a pool of several processes each runs one such loop with its share of the cores."""
    tagger = runtime.current()
    processes = pool_processes()
    with share_of_the_cores(tagger):
        total = _tag_loop(worker=worker, runtime=runtime, processes=processes)
    heartbeat(worker=worker, runtime=runtime, tagged=0)
    return total


@contextlib.contextmanager
def share_of_the_cores(tagger: Tagger) -> Iterator[None]:
    """Torch threads for this pool process's share of the CPU cores while the block runs (an
    operator's OMP_NUM_THREADS wins; a GPU needs none)."""
    previous = torch.get_num_threads()
    if tagger.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(torch_threads(cores=usable_cores(), processes=pool_processes()))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class _Claimed:
    photos: list[Photo]
    tagger: Tagger  # decodes them and runs them, so a new model never gets the old one's pixels
    decoding: Future[list[torch.Tensor | Exception]]  # the photos without a stored embedding
    more_waiting: bool  # photos were left unclaimed for the pool's other processes
    stored: dict[int, np.ndarray]  # photo id -> its embedding of the tagger's backbone


def _tag_loop(*, worker: str, runtime: ModelRuntime, processes: int) -> int:
    """One loop. Alone (``processes`` 1), it claims and decodes its next batch on a thread while
    this one runs through the model (Pillow and torch both release the GIL), so CPU decoding
    overlaps a GPU's work. In a pool of several processes it decodes in turn instead: the other
    processes keep the cores busy, and a batch claimed ahead would sit idle at the end of the
    backlog while another process has nothing left to do. The first claim that leaves work
    waiting sends a wake-up, which an idle process of the pool takes; that one does the same, so
    the pool joins in one by one. Only the first: while every process is busy a wake-up waits in
    the queue, and one per claim would leave a pile of them to be taken for nothing. If the loop
    fails, the photos it holds go back to the queue at once."""
    decode_ahead = processes == 1
    woke_another = False
    total = 0
    current: Sequence[Photo] = ()  # claimed by this loop, not written yet
    ahead: _Claimed | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as decoder:
            ahead = _claim_and_decode(worker=worker, runtime=runtime, decoder=decoder, processes=processes)
            while ahead is not None:
                claimed, ahead = ahead, None
                current = claimed.photos
                if claimed.more_waiting and not woke_another:
                    request_tagging()
                    woke_another = True
                decoded = claimed.decoding.result()
                if decode_ahead:
                    ahead = _claim_and_decode(
                        worker=worker, runtime=runtime, decoder=decoder, processes=processes
                    )
                done = tag_batch(
                    current, tagger=claimed.tagger, worker=worker, claimed=claimed, decoded=decoded
                )
                current = ()
                total += done
                _count(worker=worker, runtime=runtime, tagged=done)
                if not decode_ahead:
                    ahead = _claim_and_decode(
                        worker=worker, runtime=runtime, decoder=decoder, processes=processes
                    )
    except Exception:
        unwritten = [*current, *(ahead.photos if ahead else ())]
        with contextlib.suppress(Exception):  # the database may be what failed: the sweep frees them
            release_claims(worker=worker, photo_ids=[p.pk for p in unwritten])
        raise
    return total


def _count(*, worker: str, runtime: ModelRuntime, tagged: int) -> None:
    """A batch's photos added to the worker's count. Device, GPUs and the model are reported by
    the heartbeat thread and after the loop, not after every batch."""
    counted = WorkerStatus.objects.filter(name=worker).update(
        photos_tagged=F("photos_tagged") + tagged, last_seen=timezone.now()
    )
    if not counted:
        heartbeat(worker=worker, runtime=runtime, tagged=tagged)


def _claim_and_decode(
    *, worker: str, runtime: ModelRuntime, decoder: ThreadPoolExecutor, processes: int
) -> _Claimed | None:
    """The next batch, claimed now and decoding in the background; None when none is left. In a
    pool on a CPU, claims shrink to an even share as the backlog runs out (:func:`claim_size`)."""
    tagger = runtime.current()
    size, more_waiting = settings.TAGGER_BATCH_SIZE, False
    if processes > 1:
        waiting = unclaimed_work(active_version=tagger.version, most=size * processes)
        if tagger.device.type == "cpu":
            size = claim_size(batch=size, waiting=waiting, processes=processes, smallest=tagger.cpu_chunk)
        more_waiting = waiting > size
    photos = claim_batch(
        worker=worker, size=size, active_version=tagger.version,
        rescore_size=settings.TAGGER_RESCORE_BATCH, space=tagger.backbone_id,
    )  # fmt: skip
    if not photos:
        return None
    stored = stored_embeddings([p.pk for p in photos], backbone=tagger.backbone_id)
    to_decode = [p for p in photos if p.pk not in stored]
    decoding = decoder.submit(tagger.decode_sources, _sources(to_decode))
    return _Claimed(photos, tagger, decoding, more_waiting, stored)


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
