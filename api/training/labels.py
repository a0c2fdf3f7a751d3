"""The training data: only the tags people vouched for, weighted by who vouched.

The rule (documented in the README):
- Positives are tags in state ``confirmed``, negatives tags in state ``rejected`` (explicit
  negatives). Unconfirmed suggestions, the model's or a person's, are never used: the model must
  not learn its own guesses (the lesson of Eyes). Only tags on public photos count: what the
  model learns (tag names, suggestions, metrics, the vocabulary) is shown to everyone.
- A tag the owner confirmed or rejected counts with weight 1. A tag decided by other people
  counts only if enough *trusted* people agree (one for a model suggestion,
  ``TAG_CONFIRMATIONS_REQUIRED`` for a person's suggestion); its weight is their mean trust.
- A person's trust is their agreement with the final state of tags on other people's photos:
  ``(agreeing votes + 1) / (votes + 2)``, 0.5 for someone who has not voted yet. People below
  ``TRAIN_MIN_TRUST`` are left out.
- The vocabulary is every tag with at least ``MIN_PHOTOS_PER_TAG`` positive photos.
- The open world: a photo people gave any tag (in the vocabulary or not) is a negative, with
  weight ``TRAIN_IMPLICIT_NEGATIVE_WEIGHT``, for every vocabulary tag it was not given; a photo
  whose vouched-for tags are all outside the vocabulary is a negative for all of them. A rejected
  suggestion is an explicit negative for its tag. Up to ``TRAIN_BACKGROUND_PHOTOS`` public photos
  nobody labelled join as weak negatives (``TRAIN_BACKGROUND_WEIGHT``) for every tag: the kinds
  of photo the community has not taught, as the library holds them, and only those unlike every
  taught tag (``trainer.open_world``, ``TRAIN_BACKGROUND_QUANTILE``). They train but are never
  scored, since nobody knows their truth.
- Every labelled photo is validated once: photos are split into ``TRAIN_FOLDS`` folds by hash of
  their group, where a group joins identical files and near-duplicates (a photo and its nearest
  other photo when their embeddings' cosine is at least ``TRAIN_NEAR_DUPLICATE_COSINE``), so a
  copy can never sit on both sides of a split and fool the gate.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings

from api.photos.models import Visibility
from api.tagging.models import PhotoEmbedding
from api.tagging.services import vector_of
from api.tagging.similarity import record_nearest
from api.training.sampling import capped, content_hashes, read_embeddings
from api.training.vouched import Collected, Label
from trainer.folds import fold_of
from trainer.open_world import unlike_every_tag


@dataclass
class TrainingData:
    photo_ids: list[int]
    content_hashes: list[str]
    embeddings: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    folds: np.ndarray  # the fold each photo is validated in
    judged: np.ndarray  # labelled by people (False: a background photo, a weak negative)
    tags: list[str]
    fingerprint: str
    near_tags: dict[str, int]  # tags still short of the vocabulary: positives they have
    # When each photo's last vouched-for label was decided (None for background photos): the gate
    # compares the active model only on photos labelled after it was trained.
    labelled_at: list[datetime | None]

    @property
    def judged_ids(self) -> list[int]:
        return [pk for pk, judged in zip(self.photo_ids, self.judged, strict=True) if judged]


def vocabulary(labels: list[Label]) -> tuple[list[str], dict[str, int]]:
    positives: dict[str, set[int]] = defaultdict(set)
    for label in labels:
        if label.positive:
            positives[label.tag].add(label.photo_id)
    minimum = settings.MIN_PHOTOS_PER_TAG
    tags = sorted(tag for tag, photos in positives.items() if len(photos) >= minimum)
    near = {tag: len(photos) for tag, photos in positives.items() if len(photos) < minimum}
    return tags, dict(sorted(near.items(), key=lambda item: -item[1]))


def group_folds(hashes: list[str], links: Iterable[tuple[int, int]]) -> np.ndarray:
    """Each photo's fold, from the smallest content hash of its group: copies share a fold, and a
    photo stays in its fold from run to run. A group joins identical files and the ``links``
    (pairs of row numbers: near-duplicates), by union-find, in time linear in photos and links."""
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_hash: dict[str, int] = {}
    for i, content_hash in enumerate(hashes):
        parent[find(i)] = find(first_with_hash.setdefault(content_hash, i))
    for a, b in links:
        parent[find(a)] = find(b)
    group_key: dict[int, str] = {}
    for i, content_hash in enumerate(hashes):
        group_key[find(i)] = min(group_key.get(find(i), content_hash), content_hash)
    return fold_of([group_key[find(i)] for i in range(len(hashes))], settings.TRAIN_FOLDS)


def near_duplicate_links(photo_ids: list[int], matrix: np.ndarray, backbone: str) -> list[tuple[int, int]]:
    """Pairs of rows of ``photo_ids`` whose photos are near-duplicates (cosine at least
    ``TRAIN_NEAR_DUPLICATE_COSINE``), from each photo's nearest other photo, stored when it was
    embedded (api.tagging.similarity.record_nearest): one indexed search per photo, once, never
    all pairs. A photo embedded before those were stored gets its search now."""
    stored = PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone)
    rows = {
        pk: (other, cosine)
        for pk, other, cosine in stored.values_list("photo_id", "nearest_photo_id", "nearest_cosine")
    }
    row_of = {pk: i for i, pk in enumerate(photo_ids)}
    unsearched = {pk: matrix[row_of[pk]] for pk, (_, cosine) in rows.items() if cosine is None}
    for pk, near in record_nearest(vectors=unsearched, space=backbone).items():
        rows[pk] = (near[0][0], near[0][2]) if near else (None, None)
    threshold = settings.TRAIN_NEAR_DUPLICATE_COSINE
    return [
        (row_of[pk], row_of[other])
        for pk, (other, cosine) in rows.items()
        if other in row_of and cosine is not None and cosine >= threshold
    ]


# Candidates read for each background photo wanted: most look like a taught tag and are left out.
BACKGROUND_CANDIDATES = 3


def background_photos(
    exclude: Collection[int], backbone: str, positives: list[tuple[np.ndarray, np.ndarray]]
) -> dict[int, np.ndarray]:
    """Up to ``TRAIN_BACKGROUND_PHOTOS`` public photos with an embedding and no vouched-for label
    that look like none of the taught tags (``trainer.open_world``), in content-hash order (a
    stable sample that does not follow upload order)."""
    wanted = settings.TRAIN_BACKGROUND_PHOTOS
    if wanted == 0:
        return {}
    rows = list(
        PhotoEmbedding.objects.filter(backbone=backbone, photo__visibility=Visibility.PUBLIC)
        .exclude(photo_id__in=exclude)
        .order_by("photo__content_hash")
        .values_list("photo_id", "vector")[: wanted * BACKGROUND_CANDIDATES]
    )
    if not rows:
        return {}
    vectors = np.stack([vector_of(v).astype(np.float32) for _, v in rows])
    keep = unlike_every_tag(vectors, positives, settings.TRAIN_BACKGROUND_QUANTILE)
    chosen = [(pk, vector) for (pk, _), vector, kept in zip(rows, vectors, keep, strict=True) if kept]
    return dict(chosen[:wanted])


def _positives_by_tag(
    matrix: np.ndarray, positive: np.ndarray, folds: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each vocabulary tag's positive photos as (embeddings, folds), for choosing background
    photos unlike all of them; ``positive`` is photos x tags."""
    return [
        (matrix[rows], folds[rows])
        for rows in (np.flatnonzero(positive[:, t]) for t in range(positive.shape[1]))
        if len(rows)
    ]


def build_training_data(collected: Collected, backbone: str) -> TrainingData:
    tags, near = vocabulary(collected.labels)
    index = {tag: i for i, tag in enumerate(tags)}
    per_photo: dict[int, list[Label]] = defaultdict(list)
    for label in collected.labels:
        # A photo that only had tags outside the vocabulary rejected teaches nothing about it.
        if label.tag in index or label.positive:
            per_photo[label.photo_id].append(label)
    wanted = capped(per_photo, index, settings.TRAIN_MAX_PHOTOS)
    spare = settings.TRAIN_BACKGROUND_PHOTOS
    labelled_ids, buffer = read_embeddings(wanted, backbone, spare=spare)
    hashes = content_hashes(labelled_ids)
    if len(hashes) < len(labelled_ids):  # deleted meanwhile
        present = np.array([pid in hashes for pid in labelled_ids], dtype=bool)
        buffer[: int(present.sum())] = buffer[: len(labelled_ids)][present]
        labelled_ids = [pid for pid in labelled_ids if pid in hashes]
    n_labelled = len(labelled_ids)
    labels = np.zeros((n_labelled + spare, len(tags)), dtype=np.float32)
    weights = np.full((n_labelled + spare, len(tags)), settings.TRAIN_BACKGROUND_WEIGHT, dtype=np.float32)
    positive = np.zeros((n_labelled, len(tags)), dtype=bool)
    labelled_at: list[datetime | None] = []
    implicit = settings.TRAIN_IMPLICIT_NEGATIVE_WEIGHT
    for row, pid in enumerate(labelled_ids):
        mine = per_photo[pid]
        weights[row, :] = implicit if any(label.positive for label in mine) else 0.0
        for label in mine:
            if label.tag in index:
                column = index[label.tag]
                labels[row, column] = 1.0 if label.positive else 0.0
                weights[row, column] = label.weight
                positive[row, column] = label.positive
        times = [label.decided_at for label in mine if label.decided_at is not None]
        labelled_at.append(max(times) if times else None)
    # Labelled photos' folds, by group; background photos are never scored, so each takes the fold
    # of its own hash.
    folds = np.zeros(0, dtype=np.int64)
    background: dict[int, np.ndarray] = {}
    if labelled_ids:
        links = near_duplicate_links(labelled_ids, buffer[:n_labelled], backbone)
        folds = group_folds([hashes[p] for p in labelled_ids], links)
        background = background_photos(
            per_photo, backbone, _positives_by_tag(buffer[:n_labelled], positive, folds)
        )
    background_hashes = content_hashes(sorted(background))
    extra = [pid for pid in sorted(background) if pid in background_hashes]
    for row, pid in enumerate(extra, start=n_labelled):
        buffer[row] = background[pid]
        labelled_at.append(None)
    hashes |= background_hashes
    photo_ids = labelled_ids + extra
    total = len(photo_ids)
    content_hashes_in_order = [hashes[pid] for pid in photo_ids]
    folds = np.concatenate([folds, fold_of([hashes[p] for p in extra], settings.TRAIN_FOLDS)]).astype(
        np.int64
    )
    embeddings = buffer[:total] if total else np.zeros((0, 0), dtype=np.float32)
    labels, weights = labels[:total], weights[:total]
    judged = np.arange(total) < n_labelled
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "backbone": backbone,
                "tags": tags,
                # People's labels only: background photos come and go with every upload.
                "labels": sorted(
                    (hashes[label.photo_id], label.tag, label.positive, round(label.weight, 3))
                    for pid in photo_ids
                    for label in per_photo.get(pid, [])
                ),
            }
        ).encode()
    ).hexdigest()
    return TrainingData(
        photo_ids=photo_ids,
        content_hashes=content_hashes_in_order,
        embeddings=embeddings,
        labels=labels,
        weights=weights,
        folds=folds,
        judged=judged,
        tags=tags,
        fingerprint=fingerprint,
        near_tags=near,
        labelled_at=labelled_at,
    )
