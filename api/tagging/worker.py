"""The worker's side of tagging: run the loaded model over claimed batches and report a
heartbeat. Imported only in worker processes (it pulls in torch)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch
from django.conf import settings
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone
from PIL import UnidentifiedImageError

from api.photos import storage
from api.photos.models import Photo
from api.tagging.models import WorkerStatus
from api.tagging.runtime import ModelRuntime
from api.tagging.services import TaggingResult, apply_results, claim_batch, mark_failed, release_claims
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
    return [storage.original_path(p.content_hash, p.file_ext) for p in photos]


def tag_batch(
    photos: Sequence[Photo], *, tagger: Tagger, worker: str, decoded: Sequence[torch.Tensor | Exception]
) -> int:
    """Tags one claimed batch, already decoded by ``tagger``; a photo that fails is marked failed
    alone. Returns photos tagged."""
    predictions = tagger.predict_decoded(decoded)
    results: list[TaggingResult] = []
    for photo, prediction in zip(photos, predictions, strict=True):
        if isinstance(prediction, Exception):
            log.warning("photo %s failed: %s", photo.pk, prediction)
            mark_failed(photo_id=photo.pk, worker=worker, reason=_failure_reason(prediction))
            continue
        suggestions = tagger.suggestions(prediction, settings.TAGGER_MAX_SUGGESTIONS)
        results.append(TaggingResult(photo.pk, [(s.tag, s.score) for s in suggestions], prediction.embedding))
    return apply_results(worker=worker, results=results, version=tagger.version, backbone=tagger.backbone_id)


def loop_plan(*, device: torch.device, requested: int, cores: int, sqlite: bool) -> tuple[int, int]:
    """How many tagging loops run side by side, and torch's CPU threads for each.

    On a CPU, one loop per core with one thread each: on 2 cores that ran the model at 74-102
    photos/s against 45-65 for one loop with both threads, and one loop's decoding or database
    writes no longer stall the other's matrix work (a parallel region waits for its slowest
    thread). On a GPU one loop feeds the device. SQLite takes one writer at a time, and its claims
    rely on one loop per worker, so it always gets one loop."""
    if sqlite:
        loops = 1
    elif requested:
        loops = requested
    elif device.type == "cuda":
        loops = 1
    else:
        loops = min(cores, 4)
    return loops, max(1, cores // loops)


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, lowered by a container's CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, int(quota) // int(period)))


def tag_until_done(*, worker: str, runtime: ModelRuntime) -> int:
    """Claims and tags batches until none is left, in up to :func:`loop_plan`'s number of loops;
    each loop checks for a new model between its batches."""
    tagger = runtime.current()
    loops, threads = loop_plan(
        device=tagger.device,
        requested=settings.TAGGER_LOOPS,
        cores=usable_cores(),
        sqlite=connection.vendor == "sqlite",
    )
    previous = torch.get_num_threads()
    # The intra-op pool is shared: new threads take this too. An operator's OMP_NUM_THREADS wins.
    if tagger.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    try:
        if loops == 1:
            total = _tag_loop(worker=worker, runtime=runtime, on_full_batch=None, decode_ahead=True)
        else:
            total = _GrowingLoops(loops, worker=worker, runtime=runtime).run()
    finally:
        torch.set_num_threads(previous)
    heartbeat(worker=worker, runtime=runtime, tagged=0)
    return total


class _GrowingLoops:
    """Loops that start one another. The first runs on the calling thread (and its database
    connection); a loop that claims a full batch (more work is likely waiting) starts another on
    a pool thread while fewer than ``most`` run; a loop that finds nothing ends. A burst that
    arrives photo by photo thus gets more loops as its backlog grows. A loop that fails gives its
    claims back and the others go on; the first failure is raised once all have ended."""

    def __init__(self, most: int, *, worker: str, runtime: ModelRuntime):
        self.most, self.worker, self.runtime = most, worker, runtime
        self.running = 1  # the calling thread's
        self.started: list[Future[int]] = []
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=most - 1, thread_name_prefix="tagging")

    def run(self) -> int:
        total, errors = 0, []
        with self.pool:
            try:
                total += self._loop()
            except Exception as error:  # noqa: BLE001 - raised below, once the other loops ended
                errors.append(error)
            seen = 0
            while True:
                # A loop starts others before it ends, so once the last one listed has ended, no
                # more can appear (and the pool is still open for any that does).
                with self.lock:
                    if seen == len(self.started):
                        break
                    loop = self.started[seen]
                seen += 1
                try:
                    total += loop.result()
                except Exception as error:  # noqa: BLE001 - as above
                    errors.append(error)
        if errors:
            raise errors[0]
        return total

    def grow(self) -> None:
        with self.lock:
            if self.running < self.most:
                self.running += 1
                self.started.append(self.pool.submit(self._on_pool_thread))

    def _loop(self) -> int:
        try:
            return _tag_loop(
                worker=self.worker, runtime=self.runtime, on_full_batch=self.grow, decode_ahead=False
            )
        except Exception:
            log.exception("a tagging loop failed; its claims were given back")
            raise
        finally:
            with self.lock:
                self.running -= 1

    def _on_pool_thread(self) -> int:
        try:
            return self._loop()
        finally:
            connections.close_all()  # this thread's own connection; PostgreSQL would keep it open


def _tag_loop(
    *, worker: str, runtime: ModelRuntime, on_full_batch: Callable[[], None] | None, decode_ahead: bool
) -> int:
    """One loop. With ``decode_ahead`` the next batch is claimed and decoded on a thread while this
    one runs through the model (Pillow and torch both release the GIL), so CPU decoding overlaps
    a GPU's work. Loops side by side decode in turn instead: the other loops keep the cores busy,
    and a batch claimed ahead would sit idle at the end of the backlog while another loop has
    nothing left to do. If the loop fails, the photos it holds go back to the queue at once."""
    total = 0
    current: Sequence[Photo] = ()  # claimed by this loop, not written yet
    ahead = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as decoder:
            ahead = _claim_and_decode(worker=worker, runtime=runtime, decoder=decoder)
            while ahead is not None:
                current, tagger, decoding = ahead
                ahead = None  # its photos are ``current`` now
                if on_full_batch and len(current) == settings.TAGGER_BATCH_SIZE:
                    on_full_batch()
                decoded = decoding.result()
                if decode_ahead:
                    ahead = _claim_and_decode(worker=worker, runtime=runtime, decoder=decoder)
                done = tag_batch(current, tagger=tagger, worker=worker, decoded=decoded)
                current = ()
                total += done
                _count(worker=worker, runtime=runtime, tagged=done)
                if not decode_ahead:
                    ahead = _claim_and_decode(worker=worker, runtime=runtime, decoder=decoder)
    except Exception:
        unwritten = [*current, *(ahead[0] if ahead else ())]
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
    *, worker: str, runtime: ModelRuntime, decoder: ThreadPoolExecutor
) -> tuple[list[Photo], Tagger, Future[list[torch.Tensor | Exception]]] | None:
    """The next batch, claimed now and decoding in the background; None when none is left.
    It is decoded and later run by the same model, so a switch of model between the two
    never mixes one model's preprocessing with another's weights."""
    tagger = runtime.current()
    photos = claim_batch(worker=worker, size=settings.TAGGER_BATCH_SIZE, active_version=tagger.version)
    if not photos:
        return None
    return photos, tagger, decoder.submit(tagger.decode_sources, _sources(photos))


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
