"""Worker start-up. A tagging worker loads its model when its process starts (not on the first
photo, which would then wait seconds), keeps the model registry in step with CURRENT, and keeps
a heartbeat while idle; other processes load no model. Every worker records the size of the pool
it forks (the trainer's start-up, ``api.training.boot``, reads it)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from billiard import cpu_count
from celery.signals import celeryd_init, worker_process_init
from celery.utils.sysinfo import cpu_budget
from django.conf import settings
from django.db import close_old_connections, connections

from api.celery import served_queues
from api.tagging import services
from api.tagging.pool import configured_pool_size, pool_processes, remember_pool_processes
from api.training.registry import sync_versions_or_log
from trainer.allocator import MODEL_PROCESS_TUNABLES, started_with_tunables

log = logging.getLogger(__name__)
_serves_tagging = False
_NEVER_SYNCED = object()


@celeryd_init.connect
def remember_queues(
    sender: Any = None, conf: Any = None, options: dict[str, Any] | None = None, **_: Any
) -> None:
    """What this worker serves, and the size of the pool it is about to fork (which its pool
    processes inherit, see :func:`api.tagging.pool.pool_processes`). A tagging worker whose
    command line gives no --concurrency sizes its pool here, before Celery reads the setting."""
    global _serves_tagging
    _serves_tagging = "tagging" in served_queues(options)
    concurrency = (options or {}).get("concurrency")
    if _serves_tagging and not concurrency and conf is not None:
        conf.worker_concurrency = configured_pool_size()
    remember_pool_processes(
        _pool_size_celery_starts(concurrency or getattr(conf, "worker_concurrency", None))
    )
    if _serves_tagging:
        _warn_about_pool_settings()


def _warn_about_pool_settings() -> None:
    if "TAGGER_LOOPS" in os.environ:
        log.warning("TAGGER_LOOPS is no longer read: the pool's processes are the loops (TAGGER_PROCESSES)")
    if pool_processes() > 1 and connections["default"].vendor == "sqlite":
        log.warning(
            "%s tagging processes on SQLite: it takes one writer at a time, so expect "
            "'database is locked' retries; leave --concurrency out to get one",
            pool_processes(),
        )


def _pool_size_celery_starts(concurrency: Any) -> int:
    """The pool Celery forks for ``concurrency``, as its own rules read it."""
    if str(concurrency).strip().lower() == "auto":
        return cpu_budget(use_cgroup_quota=True).count
    try:
        return max(1, int(concurrency))
    except (TypeError, ValueError):
        return cpu_count()  # Celery's fallback for a value it cannot read


@worker_process_init.connect
def load_model_and_beat(**_: Any) -> None:
    if not _serves_tagging:
        return
    from api.tagging.runtime import get_runtime  # torch: only in processes that tag
    from api.tagging.worker import heartbeat

    runtime = get_runtime()
    worker = services.worker_name()
    try:
        tagger = runtime.current()
    except Exception:
        log.exception("could not load a model at start-up")
    else:
        if tagger.device.type == "cpu" and not started_with_tunables():
            log.warning(
                "tagging on the CPU without GLIBC_TUNABLES: each batch will fault its memory in again "
                "(about 40%% of the CPU here); start the worker with GLIBC_TUNABLES=%s",
                MODEL_PROCESS_TUNABLES,
            )

    def beat() -> None:
        # The registry is synced on this thread, not in the signal: Celery's Django fix-up closes,
        # after this handler, the file descriptors of every connection the main thread holds as if
        # it were the parent's, which then closed whichever socket reused the number (the
        # heartbeat's, seen as "Bad file descriptor").
        synced: object = _NEVER_SYNCED  # the CURRENT the registry was last synced with
        while True:
            try:
                close_old_connections()
                # An idle worker notices a new CURRENT too: a good version is loaded before the
                # next upload arrives, and a damaged one is refused and reported at once (the
                # runtime keeps why in runtime.error, which the heartbeat carries).
                with contextlib.suppress(Exception):
                    runtime.current()
                heartbeat(worker=worker, runtime=runtime, tagged=0)
                # Version 0 published (outside any run), or CURRENT re-pointed outside activation:
                # the rows follow, so pages and the API only read. A failed sync is tried again.
                current = services.active_version()
                if current != synced and sync_versions_or_log():
                    synced = current
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            finally:
                close_old_connections()
            time.sleep(settings.WORKER_HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="tagloop-heartbeat", daemon=True).start()
