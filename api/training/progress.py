"""A run's progress, written to its row as the pipeline goes: the dashboard polls the row, never
Celery. Writes come at most every half second (a phase change always), each one a heartbeat, so
the sweep can tell a slow run from a dead one."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.utils import timezone

from api.training.models import TrainingRun
from trainer.metrics import CurvePoint

# The columns the pipeline reports into; everything else on the row belongs to runs.py.
REPORTED = ("phase", "progress", "epoch", "total_epochs", "curves", "metrics", "dataset_fingerprint")
SAVE_EVERY_SECONDS = 0.5


class RunProgress:
    """Writes progress to the run's row and to an optional callback (tests and the management
    command watch it)."""

    def __init__(self, run: TrainingRun, callback: Callable[[TrainingRun], None] | None = None) -> None:
        self.run = run
        self.callback = callback
        self._last = 0.0

    @property
    def curves(self) -> list[CurvePoint]:
        return list(self.run.curves)

    def phase(self, name: str, progress: float) -> None:
        self.save(phase=name, progress=progress, force=True)

    def save(self, *, force: bool = False, **fields: object) -> None:
        unknown = set(fields) - set(REPORTED)
        if unknown:
            raise ValueError(f"a run's progress has no field {', '.join(sorted(unknown))}")
        for key, value in fields.items():
            setattr(self.run, key, value)
        now = time.monotonic()
        if force or now - self._last > SAVE_EVERY_SECONDS:
            self._last = now
            self.run.heartbeat_at = timezone.now()
            TrainingRun.objects.filter(pk=self.run.pk).update(
                heartbeat_at=self.run.heartbeat_at, **{name: getattr(self.run, name) for name in REPORTED}
            )
        if self.callback:
            self.callback(self.run)
