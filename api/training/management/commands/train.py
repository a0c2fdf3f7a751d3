"""`python manage.py train`: run a training run here, now, with a progress bar in the terminal."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from api.training import runs
from api.training.models import TrainingRun
from api.training.pipeline import execute_run

BAR = 30


class Command(BaseCommand):
    help = "Train a new model on the tags people vouched for, gate it and publish it."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = runs.start_run(trigger=TrainingRun.Trigger.COMMAND, enqueue=False)
        except runs.RunInProgress as busy:
            raise CommandError(f"{busy} Wait for it, or see /api/training-runs/{busy.run.pk}/.") from None
        claimed = runs.claim_run(run.pk)
        if claimed is None:
            raise CommandError(f"Run {run.pk} was taken by another trainer.")
        interactive = sys.stderr.isatty()

        def show(current: TrainingRun) -> None:
            done = int(current.progress * BAR)
            epoch = f" epoch {current.epoch}/{current.total_epochs}" if current.total_epochs else ""
            line = f"[{'#' * done}{'.' * (BAR - done)}] {current.progress:4.0%} {current.phase}{epoch}"
            self.stderr.write(f"\r{line:<90}" if interactive else line, ending="" if interactive else "\n")

        result = execute_run(claimed, progress=show)
        show(result)
        self.stderr.write("")
        summary = f"Run {result.pk}: {result.status}"
        if result.model_version is not None:
            summary += f", model version {result.model_version}"
        if result.metrics.get("map") is not None:
            summary += f", validation mAP {result.metrics['map']:.3f}"
        if result.error:
            summary += f". {result.error}"
        self.stdout.write(summary)
        if result.status == TrainingRun.Status.FAILED:
            raise CommandError(result.error)
