"""Embeddings in pgvector on PostgreSQL: the ``vector`` extension, a ``halfvec`` copy of every
stored embedding, one HNSW index per backbone dimension (api.tagging.vectors), and each row's
nearest other photo (the trainer's split groups copies from it). On SQLite only the columns are
added: the embedded default searches with numpy."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import api.tagging.vectors
from api.migration_ops import postgres_only

TABLE = "tagging_photoembedding"
MISSING = (
    "PostgreSQL has no pgvector extension (named 'vector'), which Tagloop needs for similar photos "
    "and near-duplicates. Install pgvector for this PostgreSQL (README, 'PostgreSQL and pgvector') "
    "and run the migrations again."
)


def create_extension(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            raise RuntimeError(MISSING)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS vector")


def fill_vectors(apps: Any, schema_editor: Any) -> None:
    """Copies the embeddings a site already stored into the new column, a thousand at a time."""
    if schema_editor.connection.vendor != "postgresql":
        return
    import numpy as np

    last = 0
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT id, vector FROM {TABLE} WHERE id > %s ORDER BY id LIMIT 1000", [last])
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                f"UPDATE {TABLE} SET vec = %s::halfvec WHERE id = %s",
                [
                    (api.tagging.vectors.halfvec_text(np.frombuffer(bytes(raw), dtype=np.float16)), pk)
                    for pk, raw in rows
                ],
            )
            last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("tagging", "0002_embeddings_per_backbone"),
    ]

    operations = [
        # The extension stays on the way back: other databases' objects may use it.
        migrations.RunPython(create_extension, migrations.RunPython.noop),
        migrations.AddField(
            model_name="photoembedding",
            name="vec",
            field=api.tagging.vectors.HalfVecField(null=True),
        ),
        migrations.AddField(
            model_name="photoembedding",
            name="nearest_photo_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="photoembedding",
            name="nearest_cosine",
            field=models.FloatField(null=True),
        ),
        migrations.RunPython(fill_vectors, migrations.RunPython.noop),
        postgres_only(
            [
                f"CREATE INDEX IF NOT EXISTS embedding_vec_{dim} ON {TABLE} "
                f"USING hnsw ((vec::halfvec({dim})) halfvec_cosine_ops) WHERE dim = {dim}"
                for dim in api.tagging.vectors.INDEXED_DIMS
            ],
            [f"DROP INDEX IF EXISTS embedding_vec_{dim}" for dim in api.tagging.vectors.INDEXED_DIMS],
        ),
    ]
