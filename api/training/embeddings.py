"""Embeddings the trainer needs but the tagging worker never stored (a photo that failed, or one
tagged before its embedding was kept): computed once, stored like the worker's."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from api import volume
from api.photos.models import Photo
from api.tagging import backbone_switch
from api.tagging.models import PhotoEmbedding
from api.tagging.services import store_embeddings
from trainer import bundle
from trainer.day_zero import ensure_active_model


def compute_missing(photo_ids: Sequence[int], *, backbone: str, batch: int = 16) -> int:
    have = set(
        PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone).values_list(
            "photo_id", flat=True
        )
    )
    missing = list(Photo.objects.filter(pk__in=[p for p in photo_ids if p not in have]))
    if not missing:
        return 0
    from trainer.inference import Prediction, Tagger

    folder = volume.models_dir()
    current = ensure_active_model(folder, settings.TAGGER_BACKBONE)
    same_space = bundle.read_manifest(folder, current).embedding_space == backbone
    # Another backbone (a switch under way): its day-zero model computes the same embeddings.
    tagger = Tagger.load(folder, current if same_space else backbone_switch.ensure_day_zero(backbone))
    stored = 0
    for start in range(0, len(missing), batch):
        chunk = missing[start : start + batch]
        results = tagger.predict_sources([volume.original_path(p.content_hash, p.file_ext) for p in chunk])
        vectors = {
            photo.pk: result.embedding
            for photo, result in zip(chunk, results, strict=True)
            if isinstance(result, Prediction)
        }
        store_embeddings(vectors=vectors, backbone=backbone)
        stored += len(vectors)
    return stored
