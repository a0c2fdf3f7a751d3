"""Migration steps for PostgreSQL only (extensions and index types SQLite lacks): on SQLite, the
embedded default, they do nothing and the queries they speed up still work, unindexed."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def postgres_only(create: list[str], drop: list[str]) -> migrations.RunPython:
    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for statement in create:
                schema_editor.execute(statement)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for statement in drop:
                schema_editor.execute(statement)

    return migrations.RunPython(forwards, backwards)


def trigram_index(name: str, table: str, expression: str) -> migrations.RunPython:
    """A GIN trigram index: ``LIKE '%word%'`` (Django's ``contains``/``icontains``) without a scan.
    ``expression`` must be what the query compares: ``UPPER(column)`` for ``icontains``."""
    return postgres_only(
        ["CREATE EXTENSION IF NOT EXISTS pg_trgm",
         f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)"],
        [f"DROP INDEX IF EXISTS {name}"],
    )  # fmt: skip
