"""Similar photos and near-duplicates from the embeddings the worker stores.

Brute-force cosine over unit vectors: at a self-hosted site's scale (tens of thousands of photos,
1,280 float16 numbers each) one matrix product is a few milliseconds, and it needs no vector
database. The matrix is cached per process and rebuilt only when the embeddings change.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from api.photos.models import Photo
from api.photos.selectors import User, listed_photos
from api.tagging.models import PhotoEmbedding
from api.tagging.spaces import serving_space


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


def _index(backbone: str) -> _Index | None:
    """All embeddings of one backbone, cached until a row is added, changed or deleted."""
    summary = PhotoEmbedding.objects.filter(backbone=backbone).aggregate(
        n=Count("photo_id"), changed=Max("updated_at"), dim=Max("dim")
    )
    if not summary["n"]:
        return None
    key = (backbone, summary["n"], summary["changed"])
    with _lock:
        cached = _cache.get(backbone)
        if cached is not None and cached.key == key:
            return cached
    rows = list(
        PhotoEmbedding.objects.filter(backbone=backbone, dim=summary["dim"])
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
        _cache[backbone] = built
    return built


def similar_photos(*, viewer: User, photo: Photo, limit: int = 12) -> list[Photo]:
    """The photos nearest to ``photo`` that the viewer may find in a gallery (public ones and
    their own), best first. Visibility is checked in the database on every call, so a photo
    made private a second ago is never shown."""
    spaces = list(
        PhotoEmbedding.objects.filter(photo=photo).order_by("-updated_at").values_list("backbone", flat=True)
    )
    # During a backbone switch a photo has two: the active model's space is the one complete.
    serving = serving_space()
    space = serving if serving in spaces else (spaces[0] if spaces else None)
    index = _index(space) if space else None
    if index is None or photo.pk not in index.row_of:
        return []
    scores = index.matrix @ index.matrix[index.row_of[photo.pk]]
    order = np.argsort(-scores)
    wanted: list[Photo] = []
    scanned = 0
    # Most near neighbours are usually visible; scan in widening chunks so a viewer who may see
    # few photos still gets results without sorting ids through the database one by one.
    chunk = max(limit * 4, 64)
    while len(wanted) < limit and scanned < len(order):
        candidates = [int(i) for i in index.ids[order[scanned : scanned + chunk]] if int(i) != photo.pk]
        scanned += chunk
        visible = listed_photos(viewer).filter(pk__in=candidates).in_bulk()
        wanted += [visible[pk] for pk in candidates if pk in visible][: limit - len(wanted)]
        chunk *= 4
    return wanted


def flag_near_duplicates(*, photo_ids: Iterable[int], backbone: str) -> dict[int, int]:
    """Links each photo to an earlier photo of the same owner that is nearly identical (cosine at
    least ``NEAR_DUPLICATE_COSINE``: a re-save, a resize, a burst shot), so the owner can keep
    one. Byte-identical files never get this far: the upload refuses them. Returns the links."""
    photo_ids = list(photo_ids)
    # In the space just written: a photo's embeddings in other spaces (a backbone switch, an old
    # fine-tuned version) are not what the serving model sees.
    fresh = PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone).values_list(
        "photo_id", "photo__owner_id", "backbone", "dim"
    )
    by_owner: dict[tuple[int, str, int], list[int]] = defaultdict(list)
    for pk, owner, backbone, dim in fresh:
        by_owner[(owner, backbone, dim)].append(pk)
    links: dict[int, int] = {}
    for (owner, backbone, dim), photos in by_owner.items():
        theirs = list(
            PhotoEmbedding.objects.filter(photo__owner_id=owner, backbone=backbone, dim=dim)
            .order_by("photo_id")
            .values_list("photo_id", "vector")
        )
        ids = np.array([pk for pk, _ in theirs], dtype=np.int64)
        matrix = unit_rows((bytes(v) for _, v in theirs), dim)
        for pk in photos:
            scores = matrix @ matrix[np.searchsorted(ids, pk)]
            earlier = (ids < pk) & (scores >= settings.NEAR_DUPLICATE_COSINE)
            if earlier.any():
                # The closest earlier photo, so a chain of re-saves points at its best match.
                links[pk] = int(ids[earlier][np.argmax(scores[earlier])])
    for pk, original in links.items():
        Photo.objects.filter(pk=pk).update(near_duplicate_of_id=original)
    # A re-tag by another model may find the pair no longer alike: the old flag goes.
    Photo.objects.filter(pk__in=photo_ids, near_duplicate_of__isnull=False).exclude(pk__in=links).update(
        near_duplicate_of=None
    )
    return links
