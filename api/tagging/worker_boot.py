"""A tagging worker loads its model when its process starts (not on the first photo, which would
then wait seconds) and keeps a heartbeat while idle. Processes that do not consume the tagging
queue (the trainer) load nothing."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import celeryd_init, worker_process_init
from django.conf import settings
from django.db import close_old_connections

from api.tagging import services

log = logging.getLogger(__name__)
_serves_tagging = False


@celeryd_init.connect
def remember_queues(
    sender: Any = None, conf: Any = None, options: dict[str, Any] | None = None, **_: Any
) -> None:
    global _serves_tagging
    queues = (options or {}).get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    _serves_tagging = "tagging" in queues


@worker_process_init.connect
def load_model_and_beat(**_: Any) -> None:
    if not _serves_tagging:
        return
    from api.tagging.runtime import get_runtime  # torch: only in processes that tag
    from api.tagging.worker import heartbeat

    runtime = get_runtime()
    worker = services.worker_name()
    try:
        runtime.current()
    except Exception:
        log.exception("could not load a model at start-up")

    def beat() -> None:
        while True:
            try:
                close_old_connections()
                heartbeat(worker=worker, runtime=runtime, tagged=0)
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            finally:
                close_old_connections()
            time.sleep(settings.WORKER_HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="tagloop-heartbeat", daemon=True).start()
