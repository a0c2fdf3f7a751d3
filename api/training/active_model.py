"""The active model as the pipeline meets it: the teacher of the teacher/student step and the
opponent the gate measures a candidate against, on the same validation photos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from api import volume
from api.photos.models import Photo
from trainer import bundle
from trainer.inference import Prediction, Tagger

if TYPE_CHECKING:
    import torch


def photo_files(photo_ids: Sequence[int]) -> list[Path]:
    """The photos' original files, in the order of ``photo_ids``."""
    photos = Photo.objects.filter(pk__in=photo_ids).only("content_hash", "file_ext").in_bulk()
    missing = [pk for pk in photo_ids if pk not in photos]
    if missing:
        raise ValueError(f"photos {missing[:5]} were deleted while the run was preparing; run it again")
    return [volume.original_path(photos[pk].content_hash, photos[pk].file_ext) for pk in photo_ids]


def sigmoid_head(backbone: str) -> tuple[torch.Tensor, torch.Tensor, list[str]] | None:
    """The active model's head (weight, bias, tags) when it is a trained one reading ``backbone``'s
    embeddings, else None."""
    folder = volume.models_dir()
    current = bundle.current_version(folder)
    if current is None:
        return None
    manifest = bundle.verify(folder, current)
    if manifest.head.kind != "sigmoid" or manifest.embedding_space != backbone:
        return None
    weight, bias = bundle.load_head(folder, manifest)
    return weight, bias, list(manifest.tags)


def trained_at() -> datetime | None:
    """When the active model's training run started: photos labelled later are new to it. None
    for a model not trained here (day zero)."""
    from api.training.models import TrainingRun

    folder = volume.models_dir()
    current = bundle.current_version(folder)
    if current is None:
        return None
    run = bundle.read_manifest(folder, current).training_run
    if run is None:
        return None
    return TrainingRun.objects.filter(pk=run).values_list("started_at", flat=True).first()


def scores_from_pixels(photo_ids: Sequence[int]) -> tuple[np.ndarray | None, list[str]]:
    """The active trained model's scores, computed from the photos (a fine-tuned backbone has no
    stored embeddings the candidate shares). Day zero shares no tags: (None, [])."""
    folder = volume.models_dir()
    current = bundle.current_version(folder)
    if current is None or bundle.read_manifest(folder, current).head.kind != "sigmoid":
        return None, []
    tagger = Tagger.load(folder, current, device=settings.TAGGER_DEVICE)
    scores = np.zeros((len(photo_ids), len(tagger.tags)), dtype=np.float32)
    files = photo_files(photo_ids)
    for start in range(0, len(files), 32):
        for row, result in enumerate(tagger.predict_sources(files[start : start + 32]), start=start):
            if isinstance(result, Prediction):
                scores[row] = result.scores
    return scores, tagger.tags
