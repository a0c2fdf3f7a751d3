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
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import F

from api.photos.models import Photo, Visibility
from api.tagging.models import PhotoEmbedding
from api.tagging.services import vector_of
from api.tagging.similarity import record_nearest
from api.tags.models import PhotoTag, TagSource, TagState, TagVote, Vote
from trainer.folds import fold_of
from trainer.open_world import unlike_every_tag


@dataclass
class Label:
    photo_id: int
    tag: str
    positive: bool
    weight: float
    decided_at: datetime | None = None


@dataclass
class Collected:
    labels: list[Label]
    trust: dict[int, float]
    excluded: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def user_trust() -> dict[int, float]:
    agree: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    votes = TagVote.objects.filter(photo_tag__state__in=[TagState.CONFIRMED, TagState.REJECTED]).exclude(
        photo_tag__photo__owner_id=F("user_id")
    )
    for user_id, value, state in votes.values_list("user_id", "value", "photo_tag__state"):
        total[user_id] += 1
        agree[user_id] += (value == Vote.CONFIRM) == (state == TagState.CONFIRMED)
    return {user: (agree[user] + 1) / (total[user] + 2) for user in total}


def collect_labels() -> Collected:
    """Every high-quality label."""
    trust = user_trust()
    minimum = settings.TRAIN_MIN_TRUST
    # Only public photos teach the model: its tag names, suggestions, metrics and vocabulary are
    # shown to everyone, so a private or unlisted photo's tags must not reach them.
    photo_tags = PhotoTag.objects.filter(
        state__in=[TagState.CONFIRMED, TagState.REJECTED], photo__visibility=Visibility.PUBLIC
    )
    votes: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for photo_tag_id, user_id, value in TagVote.objects.values_list("photo_tag_id", "user_id", "value"):
        votes[photo_tag_id].append((user_id, value))
    labels: list[Label] = []
    excluded = 0
    rows = photo_tags.values_list(
        "id", "photo_id", "photo__owner_id", "tag__name", "state", "source", "updated_at"
    )
    for photo_tag_id, photo_id, owner_id, tag, state, source, decided_at in rows:
        wanted = Vote.CONFIRM if state == TagState.CONFIRMED else Vote.REJECT
        cast = votes.get(photo_tag_id, [])
        if any(user == owner_id and value == wanted for user, value in cast):
            labels.append(Label(photo_id, tag, state == TagState.CONFIRMED, 1.0, decided_at))
            continue
        backers = [trust.get(user, 0.5) for user, value in cast if value == wanted and user != owner_id]
        backers = [t for t in backers if t >= minimum]
        needed = 1 if source == TagSource.MODEL else settings.TAG_CONFIRMATIONS_REQUIRED
        if len(backers) < needed:
            excluded += 1
            continue
        labels.append(Label(photo_id, tag, state == TagState.CONFIRMED, float(np.mean(backers)), decided_at))
    return Collected(labels=labels, trust=trust, excluded=excluded)


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


def near_duplicate_links(
    photo_ids: list[int], embedded: dict[int, np.ndarray], backbone: str
) -> list[tuple[int, int]]:
    """Pairs of rows of ``photo_ids`` whose photos are near-duplicates (cosine at least
    ``TRAIN_NEAR_DUPLICATE_COSINE``), from each photo's nearest other photo, stored when it was
    embedded (api.tagging.similarity.record_nearest): one indexed search per photo, once, never
    all pairs. A photo embedded before those were stored gets its search now."""
    stored = PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone)
    rows = {
        pk: (other, cosine)
        for pk, other, cosine in stored.values_list("photo_id", "nearest_photo_id", "nearest_cosine")
    }
    unsearched = {pk: embedded[pk] for pk, (_, cosine) in rows.items() if cosine is None}
    for pk, near in record_nearest(vectors=unsearched, space=backbone).items():
        rows[pk] = (near[0][0], near[0][2]) if near else (None, None)
    row_of = {pk: i for i, pk in enumerate(photo_ids)}
    threshold = settings.TRAIN_NEAR_DUPLICATE_COSINE
    return [
        (row_of[pk], row_of[other])
        for pk, (other, cosine) in rows.items()
        if other in row_of and cosine is not None and cosine >= threshold
    ]


def _vectors(photo_ids: Collection[int], backbone: str) -> dict[int, np.ndarray]:
    rows = PhotoEmbedding.objects.filter(photo_id__in=photo_ids, backbone=backbone)
    return {pk: vector_of(vector).astype(np.float32) for pk, vector in rows.values_list("photo_id", "vector")}


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
    photo_ids: list[int],
    per_photo: dict[int, list[Label]],
    embedded: dict[int, np.ndarray],
    folds: dict[int, int],
    tags: list[str],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each vocabulary tag's positive photos as (embeddings, folds), for choosing background
    photos unlike all of them."""
    out = []
    for tag in tags:
        mine = [p for p in photo_ids if any(lb.tag == tag and lb.positive for lb in per_photo[p])]
        if mine:
            out.append((np.stack([embedded[p] for p in mine]), np.array([folds[p] for p in mine])))
    return out


def build_training_data(collected: Collected, backbone: str) -> TrainingData:
    tags, near = vocabulary(collected.labels)
    index = {tag: i for i, tag in enumerate(tags)}
    per_photo: dict[int, list[Label]] = defaultdict(list)
    for label in collected.labels:
        # A photo that only had tags outside the vocabulary rejected teaches nothing about it.
        if label.tag in index or label.positive:
            per_photo[label.photo_id].append(label)
    embedded = _vectors(per_photo, backbone)
    labelled_ids = sorted(pid for pid in per_photo if pid in embedded)
    hashes = dict(Photo.objects.filter(pk__in=labelled_ids).values_list("pk", "content_hash"))
    labelled_ids = [pid for pid in labelled_ids if pid in hashes]  # deleted meanwhile
    # Labelled photos' folds, by group; background photos are never scored, so each takes the fold
    # of its own hash.
    fold_by_photo: dict[int, int] = {}
    if labelled_ids:
        links = near_duplicate_links(labelled_ids, embedded, backbone)
        folds = group_folds([hashes[p] for p in labelled_ids], links)
        fold_by_photo = dict(zip(labelled_ids, folds.tolist(), strict=True))
    background = (
        background_photos(
            per_photo, backbone, _positives_by_tag(labelled_ids, per_photo, embedded, fold_by_photo, tags)
        )
        if labelled_ids
        else {}
    )
    photo_ids = labelled_ids + sorted(background)
    embedded.update(background)
    hashes |= dict(Photo.objects.filter(pk__in=background).values_list("pk", "content_hash"))
    photo_ids = [pid for pid in photo_ids if pid in hashes]
    unlabelled = [pid for pid in photo_ids if pid not in fold_by_photo]
    fold_by_photo |= dict(
        zip(unlabelled, fold_of([hashes[p] for p in unlabelled], settings.TRAIN_FOLDS).tolist(), strict=True)
    )
    content_hashes = [hashes[pid] for pid in photo_ids]
    dim = len(next(iter(embedded.values()))) if embedded else 0
    embeddings = np.zeros((len(photo_ids), dim), dtype=np.float32)
    labels = np.zeros((len(photo_ids), len(tags)), dtype=np.float32)
    weights = np.full((len(photo_ids), len(tags)), settings.TRAIN_BACKGROUND_WEIGHT, dtype=np.float32)
    judged = np.array([pid in per_photo for pid in photo_ids], dtype=bool)
    labelled_at: list[datetime | None] = []
    implicit = settings.TRAIN_IMPLICIT_NEGATIVE_WEIGHT
    for row, pid in enumerate(photo_ids):
        embeddings[row] = embedded[pid]
        mine = per_photo.get(pid, [])
        if mine:
            weights[row, :] = implicit if any(label.positive for label in mine) else 0.0
        for label in mine:
            if label.tag in index:
                labels[row, index[label.tag]] = 1.0 if label.positive else 0.0
                weights[row, index[label.tag]] = label.weight
        times = [label.decided_at for label in mine if label.decided_at is not None]
        labelled_at.append(max(times) if times else None)
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
        content_hashes=content_hashes,
        embeddings=embeddings,
        labels=labels,
        weights=weights,
        folds=np.array([fold_by_photo[pid] for pid in photo_ids], dtype=np.int64),
        judged=judged,
        tags=tags,
        fingerprint=fingerprint,
        near_tags=near,
        labelled_at=labelled_at,
    )
