"""The model a tagging worker process serves: loaded once per process, swapped between batches
when CURRENT names another version, and kept when the new one is broken."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from api.volume import models_dir
from trainer import bundle
from trainer.day_zero import ensure_active_model
from trainer.inference import Tagger

log = logging.getLogger(__name__)


class ModelRuntime:
    def __init__(self) -> None:
        self.tagger: Tagger | None = None
        self.error = ""
        self._refused: int | None = None
        self._lock = threading.Lock()

    def current(self) -> Tagger:
        """The tagger for the version CURRENT names, or the one already loaded when that version
        cannot be loaded. Raises only when no model could ever be loaded."""
        with self._lock:
            folder = models_dir()
            try:
                wanted = ensure_active_model(folder, settings.TAGGER_BACKBONE)
            except bundle.BundleError as error:
                return self._keep(f"CURRENT cannot be read: {error}", error)
            if self.tagger is not None and self.tagger.version == wanted:
                return self.tagger
            if self.tagger is not None and self._refused == wanted:
                return self.tagger  # already refused; try again only when CURRENT changes
            try:
                tagger = Tagger.load(
                    folder, wanted, device=settings.TAGGER_DEVICE, cpu_chunk=settings.TAGGER_CPU_CHUNK
                )
            except Exception as error:  # noqa: BLE001 - any broken bundle must leave the old model serving
                self._refused = wanted
                return self._keep(f"version {wanted} refused: {error}", error)
            previous = self.tagger.version if self.tagger else None
            self.tagger, self.error, self._refused = tagger, "", None
            log.info("serving model version %s (was %s) on %s", wanted, previous, tagger.device)
            return tagger

    def _keep(self, message: str, error: Exception) -> Tagger:
        self.error = message
        if self.tagger is None:
            raise error
        log.error("%s; still serving version %s", message, self.tagger.version)
        return self.tagger


_runtime = ModelRuntime()


def get_runtime() -> ModelRuntime:
    return _runtime
