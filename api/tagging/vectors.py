"""Embeddings in pgvector: a ``halfvec`` column beside the float16 bytes, so PostgreSQL can answer
"the nearest photos" from an HNSW index instead of a scan of the library.

The column has no fixed dimension (backbones differ), so each backbone dimension gets its own
partial expression index, ``(vec::halfvec(D)) halfvec_cosine_ops WHERE dim = D``, and every query
repeats that expression and that predicate, or the planner cannot use the index. On SQLite (the
embedded default) the column exists but stays empty, and ``api.tagging.similarity`` searches with
numpy instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# Every backbone's embedding size (trainer.backbones; a test checks they are all here). A new
# size needs a migration that adds its index.
INDEXED_DIMS = (1280, 2048)


def on_pgvector(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


def halfvec_text(vector: np.ndarray) -> str:
    """pgvector's text form of a vector. halfvec refuses NaN and infinity, which a float16 overflow
    can produce: those numbers read as 0 in the index (the stored bytes keep them)."""
    values = np.nan_to_num(np.asarray(vector, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return "[" + ",".join(map(repr, values.tolist())) + "]"


def distance_sql(dim: int, column: str = "vec") -> str:
    """The cosine distance between ``column`` and a parameter, in the form the index answers (a
    dimension outside ``INDEXED_DIMS`` is searched exactly, by a scan: tests' tiny vectors)."""
    return f"{column}::halfvec({int(dim)}) <=> %s::halfvec({int(dim)})"


def dim_sql(dim: int, column: str = "dim") -> str:
    """The partial index's predicate, as a literal: the planner must see it to use the index."""
    return f"{column} = {int(dim)}"


class HalfVecField(models.Field):  # type: ignore[type-arg]
    """pgvector's ``halfvec`` on PostgreSQL, written from a numpy vector; always null elsewhere.
    Nothing reads it back into Python: it exists for the index."""

    description = "a pgvector halfvec (PostgreSQL only)"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "halfvec" if on_pgvector(connection) else "blob"

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None or not on_pgvector(connection):
            return None
        if isinstance(value, str):
            return value
        return halfvec_text(np.asarray(value))
