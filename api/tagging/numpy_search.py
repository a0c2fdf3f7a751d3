"""Nearest photos by brute force, for SQLite (the embedded default, which has no vector index).

One matrix product over every embedding of a space, cached per process until a row of that space
is added, changed or deleted. Fine for a small library (tens of thousands of photos: tens of
milliseconds); a site that grows past that belongs on PostgreSQL with pgvector
(api.tagging.vector_search). Same answers as that module's functions, but exact.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max

from api.photos.models import Photo
from api.photos.selectors import User, listed_photos
from api.tagging.models import PhotoEmbedding


def unit_rows(vectors: Iterable[bytes], dim: int) -> np.ndarray:
    """Stored float16 bytes as float32 rows of length one (zero rows stay zero)."""
    matrix = np.frombuffer(b"".join(vectors), dtype=np.float16).astype(np.float32).reshape(-1, dim)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-8)


@dataclass(frozen=True)
class _Index:
    key: tuple[str, int, object]
    ids: np.ndarray
    matrix: np.ndarray
    row_of: dict[int, int]


_cache: dict[str, _Index] = {}
_lock = threading.Lock()


def _index(space: str) -> _Index | None:
    summary = PhotoEmbedding.objects.filter(backbone=space).aggregate(
        n=Count("photo_id"), changed=Max("updated_at"), dim=Max("dim")
    )
    if not summary["n"]:
        return None
    key = (space, summary["n"], summary["changed"])
    with _lock:
        cached = _cache.get(space)
        if cached is not None and cached.key == key:
            return cached
    rows = list(
        PhotoEmbedding.objects.filter(backbone=space, dim=summary["dim"])
        .order_by("photo_id")
        .values_list("photo_id", "vector")
    )
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    built = _Index(
        key=key,
        ids=ids,
        matrix=unit_rows((bytes(v) for _, v in rows), summary["dim"]),
        row_of={int(pk): i for i, pk in enumerate(ids)},
    )
    with _lock:
        _cache[space] = built
    return built


def _ranked(photo_id: int, space: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Every other photo of the space, nearest first, with its cosine."""
    index = _index(space)
    if index is None or photo_id not in index.row_of:
        return None
    scores = index.matrix @ index.matrix[index.row_of[photo_id]]
    order = np.argsort(-scores, kind="stable")
    order = order[index.ids[order] != photo_id]
    return index.ids[order], scores[order]


def visible_neighbours(*, photo_id: int, space: str, viewer: User, limit: int) -> list[int]:
    ranked = _ranked(photo_id, space)
    if ranked is None:
        return []
    ids = ranked[0]
    wanted: list[int] = []
    scanned, chunk = 0, max(limit * 4, 64)
    # Most near neighbours are usually visible; widening chunks find the rest for a viewer who
    # may see few photos, without asking the database about every id.
    while len(wanted) < limit and scanned < len(ids):
        candidates = [int(i) for i in ids[scanned : scanned + chunk]]
        scanned += chunk
        chunk *= 4
        visible = set(listed_photos(viewer).filter(pk__in=candidates).values_list("pk", flat=True))
        wanted += [pk for pk in candidates if pk in visible][: limit - len(wanted)]
    return wanted


def neighbours(
    *, vectors: Mapping[int, np.ndarray], space: str, limit: int
) -> dict[int, list[tuple[int, int, float]]]:
    index = _index(space)
    if index is None:
        return {pk: [] for pk in vectors}
    nearest: dict[int, list[tuple[int, float]]] = {}
    for pk, vector in vectors.items():
        query = np.asarray(vector, dtype=np.float32)
        row = index.matrix @ (query / max(float(np.linalg.norm(query)), 1e-8))
        order = np.argsort(-row, kind="stable")
        order = order[index.ids[order] != pk][:limit]
        nearest[pk] = [(int(index.ids[i]), float(row[i])) for i in order]
    wanted = {other for near in nearest.values() for other, _ in near}
    owners = dict(Photo.objects.filter(pk__in=wanted).values_list("pk", "owner_id"))
    return {
        pk: [(other, owners[other], score) for other, score in near if other in owners]
        for pk, near in nearest.items()
    }
