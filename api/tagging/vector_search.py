"""Nearest photos from PostgreSQL's HNSW index (api.tagging.vectors): one indexed query each,
whatever the size of the library.

- ``visible_neighbours`` filters by visibility inside the index query. pgvector's iterative scan
  (``relaxed_order``) keeps reading the index until enough rows pass the filter, so a viewer whose
  nearest photos are all someone else's private ones still gets a full row (up to
  ``hnsw.max_scan_tuples`` read); a materialised CTE puts the relaxed order right.
- ``neighbours`` has no filter: the nearest photos of any owner, for near-duplicates and the
  trainer's groups, for a whole batch of photos in one query.
Results are approximate (HNSW), measured against exact search in ``bench/bench_scale.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from api.photos.models import Photo
from api.photos.selectors import User
from api.tagging.models import PhotoEmbedding
from api.tagging.vectors import dim_sql, distance_sql, halfvec_text

EMBEDDINGS = PhotoEmbedding._meta.db_table
PHOTOS = Photo._meta.db_table


def _query_vector(photo_id: int, space: str) -> tuple[str, int] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT vec::text, dim FROM {EMBEDDINGS}"
            " WHERE photo_id = %s AND backbone = %s AND vec IS NOT NULL",
            [photo_id, space],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def _search(sql: str, params: list[str | int | None], *, filtered: bool) -> list[tuple[float, ...]]:
    """The rows of an index query, its last column a distance turned into a cosine. ``filtered``:
    the query filters what the index returns, so the scan goes on until enough rows pass."""
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: for this transaction only (a savepoint inside a longer one keeps it until
        # that one ends, which only makes later searches in it as thorough).
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [settings.VECTOR_EF_SEARCH])
        if filtered:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(sql, params)
        return [(*(int(v) for v in row[:-1]), 1.0 - float(row[-1])) for row in cursor.fetchall()]


def visible_neighbours(*, photo_id: int, space: str, viewer: User, limit: int) -> list[int]:
    """Up to ``limit`` photos nearest to ``photo_id`` in ``space`` that the viewer may find in a
    gallery, best first: api.photos.selectors.listed_photos's rule (public, or the viewer's own),
    written out in SQL so the index scan applies it."""
    viewer_id = viewer.pk if viewer.is_authenticated else None
    query = _query_vector(photo_id, space)
    if query is None:
        return []
    vector, dim = query
    visible = "p.visibility = %s" + (" OR p.owner_id = %s" if viewer_id is not None else "")
    params: list[str | int | None] = [vector, space, photo_id, Photo.Visibility.PUBLIC]
    params += [viewer_id] if viewer_id is not None else []
    sql = (
        f"WITH nearest AS MATERIALIZED ("
        f" SELECT e.photo_id, p.owner_id, {distance_sql(dim, 'e.vec')} AS distance"
        f" FROM {EMBEDDINGS} e JOIN {PHOTOS} p ON p.id = e.photo_id"
        f" WHERE e.backbone = %s AND {dim_sql(dim, 'e.dim')} AND e.photo_id <> %s AND ({visible})"
        f" ORDER BY distance LIMIT %s)"
        f" SELECT photo_id, owner_id, distance FROM nearest ORDER BY distance"
    )
    return [int(row[0]) for row in _search(sql, [*params, limit], filtered=True)]


# Each query vector is about 15 kB of SQL text: a batch is sent this many at a time.
QUERIES_PER_STATEMENT = 64


def neighbours(
    *, vectors: Mapping[int, np.ndarray], space: str, limit: int
) -> dict[int, list[tuple[int, int, float]]]:
    """For each photo of ``vectors`` (its vector given), the ``limit`` photos of ``space`` nearest
    to it, any owner, best first, leaving the photo itself out, as (photo, owner, cosine). One
    query per ``QUERIES_PER_STATEMENT`` photos: a LATERAL join runs one index scan per photo."""
    found: dict[int, list[tuple[int, int, float]]] = {pk: [] for pk in vectors}
    by_dim: dict[int, list[int]] = {}
    for pk, vector in vectors.items():
        by_dim.setdefault(int(vector.shape[0]), []).append(pk)
    chunks = [
        (dim, ids[i : i + QUERIES_PER_STATEMENT])
        for dim, ids in by_dim.items()
        for i in range(0, len(ids), QUERIES_PER_STATEMENT)
    ]
    for dim, ids in chunks:
        rows = ", ".join([f"(%s, %s::halfvec({dim}))"] * len(ids))
        sql = (
            f"WITH q (photo_id, vec) AS (VALUES {rows})"
            f" SELECT q.photo_id, n.photo_id, p.owner_id, n.distance FROM q CROSS JOIN LATERAL ("
            f"  SELECT e.photo_id, e.vec::halfvec({dim}) <=> q.vec AS distance FROM {EMBEDDINGS} e"
            f"  WHERE e.backbone = %s AND {dim_sql(dim, 'e.dim')} AND e.photo_id <> q.photo_id"
            f"  ORDER BY distance LIMIT %s) n"
            f" JOIN {PHOTOS} p ON p.id = n.photo_id ORDER BY q.photo_id, n.distance"
        )
        params: list[str | int | None] = [x for pk in ids for x in (pk, halfvec_text(vectors[pk]))]
        for query, other, owner, cosine in _search(sql, [*params, space, limit], filtered=False):
            found[int(query)].append((int(other), int(owner), float(cosine)))
    return found
