"""A training run's photos, bounded: at most ``TRAIN_MAX_PHOTOS`` labelled photos, chosen rarest
tag first, and their embeddings read a chunk at a time into one array allocated once, so a run's
memory is that array (photos x 1,280 float32) and not a Python object per photo.

Why a cap: the head is fitted by full-batch L-BFGS, whose time grows with photos x tags; on a
2-core machine 20,000 photos of 50 tags take about a minute and a half (bench/bench_scale.py has
the figures at scale). Which photos go when the library holds more: each photo ranks by the
rarest vocabulary tag among its labels (fewest labelled photos first), ties broken by a stable
hash of its id, so every photo of a rare tag stays and a frequent tag gives up photos first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from api.photos.models import Photo
from api.tagging.models import PhotoEmbedding
from api.tagging.services import vector_of
from api.training.vouched import Label

CHUNK = 5000


def capped(per_photo: dict[int, list[Label]], vocabulary: dict[str, int], most: int) -> list[int]:
    """The labelled photos a run trains on, in id order: all of them up to ``most``, else the
    ``most`` whose rarest vocabulary tag is rarest."""
    ids = sorted(per_photo)
    if len(ids) <= most:
        return ids
    frequency = Counter(
        label.tag for labels in per_photo.values() for label in labels if label.tag in vocabulary
    )

    def rank(pk: int) -> tuple[int, int]:
        rarest = min(
            (frequency[lb.tag] for lb in per_photo[pk] if lb.tag in vocabulary), default=len(ids) + 1
        )
        return rarest, (pk * 2654435761) % 2**32  # Knuth's multiplicative hash: stable, not upload order

    return sorted(sorted(ids, key=rank)[:most])


def content_hashes(photo_ids: Sequence[int]) -> dict[int, str]:
    """Each photo's content hash, read a chunk at a time (SQLite refuses very long IN lists)."""
    found: dict[int, str] = {}
    for start in range(0, len(photo_ids), CHUNK):
        chunk = photo_ids[start : start + CHUNK]
        found.update(Photo.objects.filter(pk__in=chunk).values_list("pk", "content_hash"))
    return found


def read_embeddings(
    photo_ids: Sequence[int], backbone: str, *, spare: int = 0
) -> tuple[list[int], np.ndarray]:
    """The photos of ``photo_ids`` with an embedding in ``backbone``, in the order given, and a
    float32 array whose first rows are their embeddings, read ``CHUNK`` at a time; ``spare`` more
    rows are allocated at its end for the caller (background photos), so nothing is copied."""
    kept: list[int] = []
    matrix: np.ndarray | None = None
    for start in range(0, len(photo_ids), CHUNK):
        chunk = photo_ids[start : start + CHUNK]
        stored = dict(
            PhotoEmbedding.objects.filter(photo_id__in=chunk, backbone=backbone).values_list(
                "photo_id", "vector"
            )
        )
        for pk in chunk:
            raw = stored.get(pk)
            if raw is None:
                continue
            vector = vector_of(raw)
            if matrix is None:
                matrix = np.empty((len(photo_ids) + spare, len(vector)), dtype=np.float32)
            matrix[len(kept)] = vector
            kept.append(pk)
    if matrix is None:
        matrix = np.zeros((0, 0), dtype=np.float32)
    return kept, matrix
