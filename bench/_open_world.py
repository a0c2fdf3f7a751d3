"""The parts of the open-world benchmark: people's labels and the library turned into a label
matrix as a training run builds it, the trained head published and served as the tagging worker
serves it, and the plain baseline scored by the same serving rule.

The product's own pieces do the work wherever they can be called without a database: settings
(``api.settings``, so an environment override reaches the benchmark as it reaches the trainer),
folds (``api.training.labels.group_folds``), training (``trainer.training.train_head``),
bundles (``trainer.day_zero.publish_day_zero``, ``trainer.bundle.publish``) and serving
(``trainer.inference.Tagger.load``, ``predict_embeddings``, ``suggestions``). Only the label
matrix is rebuilt here, because ``build_training_data`` reads it from database rows:
``label_matrix`` mirrors it line for line for owner-tagged public photos.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")  # settings refuse to load without one

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from api.training.labels import BACKGROUND_CANDIDATES, group_folds  # noqa: E402 - needs django.setup() first
from trainer import bundle  # noqa: E402
from trainer.backbones import get_backbone  # noqa: E402
from trainer.day_zero import DAY_ZERO_VERSION, publish_day_zero  # noqa: E402
from trainer.inference import Tagger, passing  # noqa: E402
from trainer.manifest import BackboneRef, HeadSpec, Manifest  # noqa: E402
from trainer.open_world import unlike_every_tag  # noqa: E402
from trainer.training import LabelledSet, TrainedHead, train_head  # noqa: E402

# Where a photo's suggestions came from: the community head (or the baseline standing in for it),
# or the day-zero fallback.
COMMUNITY, DAY_ZERO = "community", "day_zero"
NONE_CLASS = "(none)"  # the baseline's extra class: the library's unlabelled photos
# lbfgs on 1280-d embeddings needs more than scikit-learn's 100 iterations to converge.
BASELINE_MAX_ITER = 5000


@dataclass
class Split:
    x: np.ndarray  # (photos, dim) float32: the stored float16 embedding, upcast
    classes: np.ndarray  # the class folder: the tag its owner would give it
    keys: np.ndarray  # sha256 of the file: the photo's content hash


def split_of(cached: dict[str, np.ndarray], split: str) -> Split:
    """One split of a dataset's cached embeddings (bench/_embeddings.py: worker-exact)."""
    return Split(cached[f"{split}_x"].astype(np.float32), cached[f"{split}_classes"], cached[f"{split}_keys"])


def draw_labels(classes: np.ndarray, tags: list[str], per_tag: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the train split whose owners tagged them: ``per_tag`` photos of each tag."""
    rows = [rng.choice(np.flatnonzero(classes == tag), size=per_tag, replace=False) for tag in tags]
    return np.sort(np.concatenate(rows))


def label_matrix(
    library: Split, labelled: np.ndarray, tags: list[str], background: int, leave_out: Collection[str] = ()
) -> LabelledSet:
    """The training set a run builds (``api.training.labels.build_training_data``) when each
    labelled photo is public and carries one tag its owner gave (weight 1) and the rest of the
    library is public, embedded and unlabelled:

    - a labelled photo is a negative, weight ``TRAIN_IMPLICIT_NEGATIVE_WEIGHT``, for every other
      vocabulary tag;
    - up to ``background`` unlabelled photos unlike every taught tag (``trainer.open_world``),
      the first by content hash, are weak negatives for every tag (``TRAIN_BACKGROUND_WEIGHT``),
      never judged; the library includes photos of the taught kinds nobody labelled, as a real
      one does;
    - folds by ``group_folds`` over all of them (identical files and near-duplicates share one).

    ``leave_out`` drops photos of those kinds from the background before it is taken: an oracle
    no product has (it would need the labels nobody gave), used to show what the unlabelled photos
    of the taught kinds, weak negatives for their own tag, cost.
    """
    index = {tag: i for i, tag in enumerate(tags)}
    counts = [int((library.classes[labelled] == tag).sum()) for tag in tags]
    if min(counts) < settings.MIN_PHOTOS_PER_TAG:
        raise ValueError(f"a tag below MIN_PHOTOS_PER_TAG would leave the vocabulary: {counts}")
    rest = np.setdiff1d(np.arange(len(library.keys)), labelled)
    rest = rest[~np.isin(library.classes[rest], list(leave_out))]
    # As labels.background_photos: candidates by content hash, only those unlike every taught tag.
    candidates = rest[np.argsort(library.keys[rest], kind="stable")][: background * BACKGROUND_CANDIDATES]
    if background and len(candidates):
        lab_folds = group_folds([str(k) for k in library.keys[labelled]], nearest_links(library.x[labelled]))
        positives = [
            (
                library.x[labelled][library.classes[labelled] == tag],
                lab_folds[library.classes[labelled] == tag],
            )
            for tag in tags
        ]
        keep = unlike_every_tag(library.x[candidates], positives, settings.TRAIN_BACKGROUND_QUANTILE)
        candidates = candidates[keep]
    chosen = candidates[:background] if background else rest[:0]
    rows = np.concatenate([labelled, np.sort(chosen)])
    labels = np.zeros((len(rows), len(tags)), dtype=np.float32)
    weights = np.full((len(rows), len(tags)), settings.TRAIN_BACKGROUND_WEIGHT, dtype=np.float32)
    weights[: len(labelled)] = settings.TRAIN_IMPLICIT_NEGATIVE_WEIGHT
    for row, kind in enumerate(library.classes[labelled]):
        labels[row, index[str(kind)]] = 1.0
        weights[row, index[str(kind)]] = 1.0  # the owner's own tag
    judged = np.arange(len(rows)) < len(labelled)
    embeddings = library.x[rows]
    folds = group_folds([str(k) for k in library.keys[rows]], nearest_links(embeddings))
    return LabelledSet(embeddings, labels, weights, folds, tags, judged)


def nearest_links(x: np.ndarray) -> list[tuple[int, int]]:
    """What the product stores for each photo when it is embedded (its nearest other photo) and
    links in its split (when their cosine reaches ``TRAIN_NEAR_DUPLICATE_COSINE``), computed
    exactly here: the benchmark's libraries are small enough to compare every pair."""
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    links = []
    for start in range(0, len(unit), 1024):
        scores = unit[start : start + 1024] @ unit.T
        scores[np.arange(len(scores)), start + np.arange(len(scores))] = -np.inf
        best = scores.argmax(axis=1)
        for row, (other, score) in enumerate(zip(best, scores[np.arange(len(scores)), best], strict=True)):
            if score >= settings.TRAIN_NEAR_DUPLICATE_COSINE:
                links.append((start + row, int(other)))
    return links


def train(data: LabelledSet) -> TrainedHead:
    """``train_head`` with the settings a training run passes it (api/training/pipeline.py)."""
    return train_head(
        data,
        max_epochs=settings.TRAIN_MAX_EPOCHS,
        tolerance=settings.TRAIN_TOLERANCE,
        min_support=settings.TRAIN_GATE_MIN_SUPPORT,
    )


class Models:
    """A models folder for one backbone: its day-zero bundle (version 0), then one trained
    bundle per head, published as ``api.training.pipeline._publish`` publishes a candidate (a
    sigmoid head on the package's backbone weights, falling back on version 0)."""

    def __init__(self, folder: Path, backbone_id: str):
        self.folder = folder
        self.spec = get_backbone(backbone_id)
        publish_day_zero(folder, backbone_id)

    def serve(self, head: TrainedHead, tags: list[str]) -> Tagger:
        version = bundle.next_version(self.folder)
        manifest = Manifest(
            version=version,
            backbone=BackboneRef(id=self.spec.id, embedding_dim=self.spec.embedding_dim),
            preprocessing=self.spec.preprocessing,
            head=HeadSpec(kind="sigmoid"),
            tags=tags,
            thresholds=[float(t) for t in head.thresholds],
            metrics=head.metrics,
            parent_version=DAY_ZERO_VERSION,
            description="bench_open_world candidate",
            fallback_version=DAY_ZERO_VERSION,
        )
        bundle.publish(self.folder, manifest, head={"weight": head.weight, "bias": head.bias})
        return Tagger.load(self.folder, version, device="cpu")


Served = list[list[tuple[str, str]]]  # per photo, its suggestions best first: (tag, source)


def product_suggestions(tagger: Tagger, x: np.ndarray) -> tuple[Served, Served]:
    """What the worker would store for each photo (``Tagger.suggestions`` with
    ``TAGGER_MAX_SUGGESTIONS``, nothing suppressed), and what day zero alone would offer it
    once the taught tags are left out (the most a trained version can keep)."""
    assert tagger.fallback is not None
    fallback, taught = tagger.fallback, set(tagger.tags)
    served: Served = []
    day_zero: Served = []
    for prediction in tagger.predict_embeddings(x):
        suggestions = tagger.suggestions(prediction, settings.TAGGER_MAX_SUGGESTIONS)
        served.append([(s.tag, COMMUNITY if s.version == tagger.version else DAY_ZERO) for s in suggestions])
        assert prediction.fallback_scores is not None
        offered = passing(prediction.fallback_scores, fallback.thresholds, fallback.tags, fallback.version,
                          skip=taught)  # fmt: skip
        day_zero.append([(s.tag, DAY_ZERO) for s in offered[: settings.TAGGER_MAX_SUGGESTIONS]])
    return served, day_zero


def baseline_suggestions(data: LabelledSet, x: np.ndarray, day_zero: Served, seed: int) -> Served:
    """The plain baseline, served by the same rule: scikit-learn's softmax ``LogisticRegression``
    (C=1) over the vocabulary plus one extra class, ``(none)``, made of the same background
    photos with the same weight the product gives them (``TRAIN_BACKGROUND_WEIGHT``; labelled
    photos weigh 1). A photo gets the most probable tag when it is a vocabulary tag with
    probability >= 0.5, else day zero's suggestions (``day_zero``, the taught tags left out).
    With no background there is no ``(none)`` class: a closed-world classifier."""
    from sklearn.linear_model import LogisticRegression

    judged = data.judged_rows
    names = [*data.tags, NONE_CLASS]
    target = np.where(judged, data.labels.argmax(axis=1), len(data.tags))
    sample_weight = np.where(judged, 1.0, settings.TRAIN_BACKGROUND_WEIGHT)
    probe: Any = LogisticRegression(C=1.0, max_iter=BASELINE_MAX_ITER, random_state=seed)
    probe.fit(data.embeddings, target, sample_weight=sample_weight)
    probabilities = probe.predict_proba(x)
    served: Served = []
    for photo, row in enumerate(probabilities):
        best = int(np.argmax(row))
        name = names[int(probe.classes_[best])]
        confident = name != NONE_CLASS and row[best] >= 0.5
        served.append([(name, COMMUNITY)] if confident else day_zero[photo])
    return served


def score(served: Served, day_zero: Served, classes: np.ndarray, tags: list[str]) -> dict[str, Any]:
    """The issue's three figures for one draw, with the per-kind detail behind them."""
    taught = np.isin(classes, tags)
    top_right = np.array(
        [bool(s) and s[0] == (str(c), COMMUNITY) for s, c in zip(served, classes, strict=True)]
    )
    any_community = np.array([any(src == COMMUNITY for _, src in s) for s in served])
    keeps_day_zero = np.array([any(src == DAY_ZERO for _, src in s) for s in served])
    nothing = np.array([not s for s in served])
    community_top = np.array([bool(s) and s[0][1] == COMMUNITY for s in served])
    offered = np.array([bool(s) for s in day_zero])
    untaught = ~taught
    everywhere = [tag for tag in tags
                  if all((tag, COMMUNITY) in served[i] for i in np.flatnonzero(untaught))]  # fmt: skip

    def share(mask: np.ndarray, within: np.ndarray) -> float | None:
        return round(float(mask[within].mean()), 4) if within.any() else None

    return {
        "taught_top_right": share(top_right, taught),
        "untaught_any_community": share(any_community, untaught),
        "untaught_keeps_day_zero": share(keeps_day_zero, untaught),
        # Day zero itself offers no suggestion above its threshold for some photos: the ceiling.
        "untaught_day_zero_offered": share(offered, untaught),
        "untaught_keeps_day_zero_of_offered": share(keeps_day_zero, untaught & offered),
        # Where the taught photos not named right went: a wrong taught tag on top, day zero's
        # guesses only (the head was not confident), or nothing at all.
        "taught_wrong_top": share(community_top & ~top_right, taught),
        "taught_day_zero_only": share(~community_top & ~nothing, taught),
        "taught_no_suggestion": share(nothing, taught),
        "untaught_no_suggestion": share(nothing, untaught),
        "test_photos": {"taught": int(taught.sum()), "untaught": int(untaught.sum())},
        "taught_top_right_per_kind": {
            tag: share(top_right, classes == tag) for tag in tags if (classes == tag).any()
        },
        "untaught_any_community_per_kind": {
            str(kind): share(any_community, classes == kind) for kind in sorted(set(classes[untaught]))
        },
        # Which taught tag the untaught photos that got one were given, per kind.
        "untaught_given": _given(served, classes, untaught),
        # A tag every test photo of every untaught kind was given: a head that says it of anything.
        "tag_on_every_untaught_photo": everywhere,
    }


def _given(served: Served, classes: np.ndarray, untaught: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for photo in np.flatnonzero(untaught):
        for tag, source in served[photo]:
            if source == COMMUNITY:
                kind = out.setdefault(str(classes[photo]), {})
                kind[tag] = kind.get(tag, 0) + 1
    return out
