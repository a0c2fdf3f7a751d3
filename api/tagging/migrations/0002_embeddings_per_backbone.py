"""Embeddings keyed by (photo, backbone) instead of by photo, so a site switching backbone keeps
serving from the old space while the new one fills in. The table is rebuilt (a primary key cannot
be swapped in place on SQLite) and every stored embedding copied over in one statement."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def copy_rows(apps: Any, schema_editor: Any) -> None:
    old = apps.get_model("tagging", "PhotoEmbedding")._meta.db_table
    new = apps.get_model("tagging", "BackboneEmbedding")._meta.db_table
    columns = "photo_id, backbone, dim, vector, updated_at"
    schema_editor.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {old}")


def copy_back(apps: Any, schema_editor: Any) -> None:
    old = apps.get_model("tagging", "PhotoEmbedding")._meta.db_table
    new = apps.get_model("tagging", "BackboneEmbedding")._meta.db_table
    columns = "photo_id, backbone, dim, vector, updated_at"
    # One per photo on the way back: the most recently written (the latest row on a tie). A site
    # that rolls back mid-switch keeps whichever space it wrote last; re-tagging refills the rest.
    schema_editor.execute(
        f"INSERT INTO {old} ({columns}) SELECT {columns} FROM {new} n WHERE n.id = "
        f"(SELECT m.id FROM {new} m WHERE m.photo_id = n.photo_id ORDER BY m.updated_at DESC, m.id DESC LIMIT 1)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tagging", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="BackboneEmbedding",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("backbone", models.CharField(max_length=100)),
                ("dim", models.PositiveIntegerField()),
                ("vector", models.BinaryField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "photo",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="embeddings", to="photos.photo"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("photo", "backbone"), name="one_embedding_per_space")
                ],
            },
        ),
        migrations.RunPython(copy_rows, copy_back),
        migrations.DeleteModel(name="PhotoEmbedding"),
        migrations.RenameModel(old_name="BackboneEmbedding", new_name="PhotoEmbedding"),
    ]
