"""Photos for training tests, made straight in the database: no file, no tagging, and embeddings
written by hand."""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import User

from api.photos.models import Photo
from api.tagging.models import PhotoEmbedding
from api.tags.services import add_tag

KINDS = ["red", "green", "blue"]


def bare_photo(owner: User, n: int, visibility: str = "public") -> Photo:
    return Photo.objects.create(
        owner=owner, content_hash=f"{n:064x}", file_ext="jpg", mime_type="image/jpeg",
        byte_size=1, width=1, height=1, visibility=visibility, status="tagged",
    )  # fmt: skip


def with_embedding(photo: Photo, vector: np.ndarray) -> Photo:
    PhotoEmbedding.objects.create(
        photo=photo,
        backbone="efficientnet_lite0",
        dim=len(vector),
        vector=vector.astype(np.float16).tobytes(),
    )
    return photo


def separable_photos(owner: User, per_kind: int, *, seed: int = 0, shuffle: bool = False) -> list[Photo]:
    """Photos whose embeddings cluster by kind, each tagged by its owner with its kind."""
    rng = np.random.default_rng(seed)
    centres = {kind: rng.normal(0, 1, 1280) for kind in KINDS}  # same-kind cosine ~0.5: alike, not copies
    photos, names = [], []
    for i in range(per_kind * len(KINDS)):
        kind = KINDS[i % len(KINDS)]
        photo = with_embedding(bare_photo(owner, 10_000 * seed + i), centres[kind] + rng.normal(0, 1, 1280))
        photos.append(photo)
        names.append(kind)
    if shuffle:
        names = list(rng.permutation(names))
    for photo, name in zip(photos, names, strict=True):
        add_tag(photo=photo, user=owner, name=name)
    return photos
