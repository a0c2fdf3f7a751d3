"""Similar photos and near-duplicates from the embeddings the worker stores.

On PostgreSQL the nearest photos come from pgvector's HNSW index (``vector_search``), one indexed
query per photo; on SQLite from a brute-force matrix product (``numpy_search``), for small
libraries. Both answer the same two questions, so the rules here hold on either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from api.photos.models import Photo
from api.photos.selectors import User, listed_photos
from api.tagging import numpy_search, vector_search
from api.tagging.models import PhotoEmbedding
from api.tagging.spaces import serving_space
from api.tagging.vectors import on_pgvector

# Neighbours read per photo when looking for its near-duplicates: a copy whose closest matches
# are this many other people's photos is missed (a meme uploaded by everyone).
DUPLICATE_CANDIDATES = 16
RECORD_CHUNK = 256


def _search() -> ModuleType:
    return vector_search if on_pgvector(connection) else numpy_search


def similar_photos(
    *,
    viewer: User,
    photo: Photo,
    limit: int = 12,
    prepare: Callable[[QuerySet[Photo]], QuerySet[Photo]] = lambda photos: photos,
) -> list[Photo]:
    """The photos nearest to ``photo`` that the viewer may find in a gallery (public ones and
    their own), best first, read through ``prepare`` (what the caller shows with them: tags,
    counts) in one query. Visibility is checked in the database on every call, so a photo made
    private a second ago is never shown."""
    spaces = list(
        PhotoEmbedding.objects.filter(photo=photo).order_by("-updated_at").values_list("backbone", flat=True)
    )
    # During a backbone switch a photo has two: the active model's space is the one complete.
    serving = serving_space()
    space = serving if serving in spaces else (spaces[0] if spaces else None)
    if space is None:
        return []
    ids: list[int] = _search().visible_neighbours(photo_id=photo.pk, space=space, viewer=viewer, limit=limit)
    # Read again through the gallery rule: the search is only a shortlist.
    found = prepare(listed_photos(viewer)).in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def record_nearest(
    *, vectors: Mapping[int, np.ndarray], space: str
) -> dict[int, list[tuple[int, int, float]]]:
    """Each photo's nearest photos in ``space`` (its vector given), any owner, best first, as
    (photo, owner, cosine); the closest one is stored on the photo's embedding row, where the
    trainer's split finds copies without comparing every pair of photos. Works through
    ``RECORD_CHUNK`` photos at a time, so a training run that fills in thousands stays bounded."""
    near: dict[int, list[tuple[int, int, float]]] = {}
    ids = list(vectors)
    for start in range(0, len(ids), RECORD_CHUNK):
        chunk = {pk: vectors[pk] for pk in ids[start : start + RECORD_CHUNK]}
        found: dict[int, list[tuple[int, int, float]]] = _search().neighbours(
            vectors=chunk, space=space, limit=DUPLICATE_CANDIDATES
        )
        rows = list(
            PhotoEmbedding.objects.filter(photo_id__in=list(chunk), backbone=space).only("id", "photo_id")
        )
        for row in rows:
            mine = found.get(row.photo_id)
            row.nearest_photo_id, row.nearest_cosine = (mine[0][0], mine[0][2]) if mine else (None, None)
        PhotoEmbedding.objects.bulk_update(rows, ["nearest_photo_id", "nearest_cosine"])
        near.update(found)
    return near


def flag_near_duplicates(*, vectors: Mapping[int, np.ndarray], backbone: str) -> dict[int, int]:
    """For each photo just embedded in ``backbone`` (its vector given): records its nearest other
    photo (``record_nearest``), and links it to the closest earlier photo of the same owner that
    is nearly identical (cosine at least ``NEAR_DUPLICATE_COSINE``: a re-save, a resize, a burst
    shot), so the owner can keep one. Byte-identical files never get this far: the upload refuses
    them. Returns the links."""
    owners = dict(Photo.objects.filter(pk__in=list(vectors)).values_list("pk", "owner_id"))
    links: dict[int, int] = {}
    for pk, near in record_nearest(vectors=vectors, space=backbone).items():
        # Best first, so the first match is the closest: a chain of re-saves points at its best.
        for other, owner, score in near:
            if owner == owners.get(pk) and other < pk and score >= settings.NEAR_DUPLICATE_COSINE:
                links[pk] = other
                break
    for pk, original in links.items():
        Photo.objects.filter(pk=pk).update(near_duplicate_of_id=original)
    # A re-tag by another model may find the pair no longer alike: the old flag goes.
    Photo.objects.filter(pk__in=list(vectors), near_duplicate_of__isnull=False).exclude(pk__in=links).update(
        near_duplicate_of=None
    )
    return links
