"""How many pool processes a tagging worker runs, and torch's CPU threads in each. Free of torch:
the Celery parent decides the pool's size before it forks, and must not start torch (or CUDA)
itself."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import connections

from trainer.gpu import gpu_stats

MOST_ON_A_CPU = 4

# Set in the Celery parent before it forks (see worker_boot), read by its pool processes. Anything
# else that tags (a test, the eager mode) runs alone.
_pool_processes = 1


def pool_size(*, requested: int, cores: int, sqlite: bool, gpu: bool) -> int:
    """Pool processes for a tagging worker whose command line does not say.

    On a CPU one per core (at most four), each running one tagging loop with one torch thread.
    Processes rather than threads in one process: with two loops as threads the other loop's
    Python (database writes, decoding's set-up) held the GIL while a finished operator waited to
    start the next, and the cores sat idle 6-9% of an end-to-end run against 1-5% as processes.
    A GPU is fed by one process. SQLite takes one writer at a time, so it always gets one."""
    if sqlite:
        return 1
    if requested:
        return requested
    if gpu:
        return 1
    return max(1, min(cores, MOST_ON_A_CPU))


def torch_threads(*, cores: int, processes: int) -> int:
    """Each pool process's share of the cores, at least one."""
    return max(1, cores // processes)


def claim_size(*, batch: int, waiting: int, processes: int, smallest: int) -> int:
    """A pool process's next claim: a full batch while the backlog lasts, then an even share of
    what is left, never under ``smallest`` (the CPU's forward pass). The processes then finish
    a burst together, instead of one running a last full batch while the others wait: a batch of
    16 is 0.4 s of one core here."""
    share = -(-waiting // processes)
    return max(min(batch, share), min(smallest, batch))


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


def configured_pool_size() -> int:
    """:func:`pool_size` for this machine and these settings, without touching torch."""
    return pool_size(
        requested=settings.TAGGER_PROCESSES,
        cores=usable_cores(),
        sqlite=connections["default"].vendor == "sqlite",
        gpu=settings.TAGGER_DEVICE == "cuda" or (settings.TAGGER_DEVICE == "auto" and bool(gpu_stats())),
    )


def remember_pool_processes(processes: int) -> None:
    global _pool_processes
    _pool_processes = max(1, processes)


def pool_processes() -> int:
    """The pool processes of the worker this process belongs to (1 outside a worker)."""
    return _pool_processes
