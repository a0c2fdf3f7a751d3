from __future__ import annotations

from typing import Any

import numpy as np
from django.db import models

from api.photos.models import Photo
from api.tagging.vectors import HalfVecField


class EmbeddingManager(models.Manager["PhotoEmbedding"]):
    def get_queryset(self) -> models.QuerySet[PhotoEmbedding]:
        # The index column is ten kilobytes of text per row that no Python code reads.
        return super().get_queryset().defer("vec")


class PhotoEmbedding(models.Model):
    """A backbone's pooled features of a photo, as float16 bytes: retraining the head, similar
    photos and near-duplicates all start from here instead of from pixels. One per photo and
    backbone (embedding space): while a site switches backbone, a photo has both."""

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="embeddings")
    backbone = models.CharField(max_length=100)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField()
    # The same numbers for PostgreSQL's vector index (api.tagging.vectors); null on SQLite.
    vec = HalfVecField(null=True)
    # The closest other photo in this space when this row was written, and how close: the
    # trainer's split keeps such copies together without comparing every pair of photos.
    nearest_photo_id = models.BigIntegerField(null=True)
    nearest_cosine = models.FloatField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EmbeddingManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "backbone"], name="one_embedding_per_space")]

    def __str__(self) -> str:
        return f"{self.backbone} embedding of photo {self.photo_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The index column is the stored bytes, always (bulk writes set both themselves).
        if self.vector is not None and "vec" not in self.get_deferred_fields():
            self.vec = np.frombuffer(bytes(self.vector), dtype=np.float16)
        super().save(*args, **kwargs)


class WorkerStatus(models.Model):
    """Each tagging worker's heartbeat: what it runs on, which model it serves, and why it
    refused a newer one. The status page reads this, never Celery internals."""

    name = models.CharField(max_length=200, unique=True)
    device = models.CharField(max_length=100)
    gpus = models.JSONField(default=list, blank=True)
    model_version = models.IntegerField(null=True, blank=True)
    model_error = models.TextField(blank=True)
    photos_tagged = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Retag(models.Model):
    """The progress of re-tagging the library for one model version: the photos another version
    had tagged when it started (``total``), and how many workers have re-tagged since (``done``,
    added batch by batch). The photos' own ``model_version`` stays the truth about what is due
    (``api.tagging.services.retag_due``); this row only saves counting them on every status page.
    A newer version supersedes it: photos it never reached are re-tagged once, by the newer one.
    Counts are approximate by a batch or two (photos deleted, or claimed while it started)."""

    version = models.IntegerField(unique=True)
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"re-tag for version {self.version}: {self.done} of {self.total}"
