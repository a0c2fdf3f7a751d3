"""The training pipeline, one claimed run from start to end (docs/architecture.md, 'The training
pipeline and its gate'): labels people vouched for -> embeddings -> head -> optional fine-tuning
and teacher/student -> the gate -> publish -> activate. Any error fails the run with its message;
the bundle is published atomically, so a failure never leaves half a model behind.

This module loads torch: only the trainer imports it (the training task, inside its body, so the
web process can import the tasks to send them without torch)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from api.photos.models import Visibility
from api.tagging import backbone_switch
from api.tagging.models import PhotoEmbedding
from api.tagging.services import vector_of
from api.training import active_model, embeddings, labels, registry, runs, vouched
from api.training.labels import TrainingData
from api.training.models import TrainingRun
from api.training.preview import preview
from api.training.progress import RunProgress
from api.volume import models_dir
from trainer import bundle
from trainer.backbones import get_backbone
from trainer.finetune import FineTuned, finetune
from trainer.gate import Verdict, judge
from trainer.manifest import BackboneRef, HeadSpec, Manifest
from trainer.training import LabelledSet, TrainedHead, sigmoid_scores, train_head, with_pseudo_labels

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
Status = TrainingRun.Status
# Unlabelled photos the teacher scores at most (the first the database returns, in no set order).
TEACHER_PHOTOS = 20000


def execute_run(run: TrainingRun, *, progress: Callable[[TrainingRun], None] | None = None) -> TrainingRun:
    """Runs a claimed run to its end."""
    try:
        return _execute(run, RunProgress(run, progress))
    except Exception as error:
        log.exception("training run %s failed", run.pk)
        return runs.finish(run, Status.FAILED, error=f"{type(error).__name__}: {error}", phase="failed")


def _execute(run: TrainingRun, report: RunProgress) -> TrainingRun:
    # A backbone switch trains on the new backbone once enough of the library has its embedding.
    backbone = backbone_switch.training_backbone() or settings.TAGGER_BACKBONE
    data = _training_data(report, backbone)
    reason = _nothing_to_learn(run, data)
    if reason:
        return runs.skip(run, reason)

    max_epochs = settings.TRAIN_MAX_EPOCHS

    def on_epoch(epoch: int, total: int, record: dict[str, float]) -> None:
        report.save(
            phase="training",
            epoch=epoch,
            total_epochs=total,
            curves=[*report.curves, record],
            progress=0.1 + 0.8 * epoch / total,
        )

    report.save(phase="training", total_epochs=max_epochs, curves=[], force=True)
    dataset = _labelled_set(data)
    pseudo = 0
    if settings.TRAIN_SEMI_SUPERVISED:
        dataset, pseudo = _with_teacher(dataset, data, backbone)
    head = train_head(
        dataset,
        max_epochs=max_epochs,
        tolerance=settings.TRAIN_TOLERANCE,
        seconds=settings.TRAIN_HEAD_SECONDS or None,
        min_support=settings.TRAIN_GATE_MIN_SUPPORT,
        progress=on_epoch,
    )
    tuned = _finetune(data, head, report, backbone) if settings.TRAINER_FINETUNE else None
    report.phase("evaluating", 0.9)
    if tuned is not None:
        head = tuned.head
        verdict = _gate(data, tuned.validation_rows, tuned.validation_scores, backbone)
    else:
        verdict = _gate(data, np.flatnonzero(data.judged), head.validation_scores, backbone)
    report.phase("publishing", 0.93)
    # An accepted candidate goes live without the tags the gate held back. A rejected one keeps
    # every tag it trained (it may have none left): activating it by hand overrides the gate.
    published, tags = head.without(data.tags, verdict.held_back) if verdict.accepted else (head, data.tags)
    manifest = _publish(run, data, published, tags, verdict, backbone, tuned.body_state if tuned else None)
    report.phase("previewing the library", 0.95)
    previewed = preview(manifest.version).to_dict()
    registry.record_preview(manifest.version, previewed)
    metrics = {
        **head.metrics,
        "gate": verdict.numbers,
        "epochs": head.epochs_run,
        "folds": len(np.unique(data.folds)),
        "labelled_photos": int(data.judged.sum()),
        "background_photos": int((~data.judged).sum()),
        "pseudo_labelled_photos": pseudo,
        "preview": previewed,
    }
    if verdict.accepted:
        registry.activate_version(version=manifest.version)
    return runs.finish(
        run,
        Status.SUCCEEDED if verdict.accepted else Status.REJECTED,
        phase="done",
        metrics=metrics,
        model_version=manifest.version,
        curves=head.curves,
        error="" if verdict.accepted else verdict.reason,
    )


def _training_data(report: RunProgress, backbone: str) -> TrainingData:
    report.phase("collecting labels", 0.02)
    collected = vouched.collect_labels()
    report.phase("computing missing embeddings", 0.05)
    embeddings.compute_missing(sorted({label.photo_id for label in collected.labels}), backbone=backbone)
    data = labels.build_training_data(collected, backbone)
    report.save(dataset_fingerprint=data.fingerprint, force=True)
    return data


def _nothing_to_learn(run: TrainingRun, data: TrainingData) -> str:
    """Why this run would teach nothing, in words; '' when it would."""
    if not data.tags:
        closest = ", ".join(f"{t} ({n})" for t, n in list(data.near_tags.items())[:5]) or "none"
        return f"No tag has {settings.MIN_PHOTOS_PER_TAG} vouched-for photos yet; closest: {closest}."
    previous = runs.last_judged_run(besides=run)
    if previous is not None and previous.dataset_fingerprint == data.fingerprint:
        return (
            f"The training data has not changed since run {previous.pk} "
            f"(fingerprint {data.fingerprint[:12]})."
        )
    if len(np.unique(data.folds[data.judged])) < 2:
        return "Too few labelled photos to validate each on a model that never saw it."
    return ""


def _labelled_set(data: TrainingData) -> LabelledSet:
    return LabelledSet(data.embeddings, data.labels, data.weights, data.folds, data.tags, data.judged)


def _finetune(data: TrainingData, head: TrainedHead, report: RunProgress, backbone: str) -> FineTuned:
    """The backbone's last blocks and the head, trained on the labelled photos' pixels; its
    epochs continue the head's curve so the dashboard shows one run."""
    done = head.epochs_run
    epochs = settings.TRAIN_FINETUNE_EPOCHS
    report.save(phase="fine-tuning", epoch=done, total_epochs=done + epochs, force=True)

    def on_epoch(epoch: int, total: int, record: dict[str, float]) -> None:
        report.save(
            phase="fine-tuning",
            epoch=done + epoch,
            total_epochs=done + total,
            curves=[*report.curves, {**record, "epoch": done + epoch, "stage": "fine-tuning"}],
            progress=0.5 + 0.4 * epoch / total,
        )

    # Human labels only: pseudo-labelled photos have no place in a pass over pixels.
    tuned = finetune(
        backbone_id=backbone,
        start=head,
        data=_labelled_set(data),
        files=active_model.photo_files(data.photo_ids),
        epochs=epochs,
        blocks=settings.TRAIN_FINETUNE_BLOCKS,
        batch_size=settings.TRAIN_FINETUNE_BATCH,
        progress=on_epoch,
    )
    tuned.head.curves = head.curves + [
        {**record, "epoch": done + int(record["epoch"]), "stage": "fine-tuning"}
        for record in tuned.head.curves
    ]
    tuned.head.epochs_run = done + tuned.head.epochs_run
    return tuned


def _with_teacher(dataset: LabelledSet, data: TrainingData, backbone: str) -> tuple[LabelledSet, int]:
    """Public photos nobody labelled that the active model is sure about join the training side
    (trainer's ``with_pseudo_labels``), in place of their background row if they had one; tags
    the teacher does not know score 0."""
    teacher = active_model.sigmoid_head(backbone)
    if teacher is None:
        return dataset, 0
    weight, bias, teacher_tags = teacher
    shared = [t for t in dataset.tags if t in teacher_tags]
    if not shared:
        return dataset, 0
    rows = (
        PhotoEmbedding.objects.filter(backbone=backbone, photo__visibility=Visibility.PUBLIC)
        .exclude(photo_id__in=data.judged_ids)
        .values_list("photo_id", "vector")[:TEACHER_PHOTOS]
    )
    ids, vectors = [], []
    for pk, vector in rows:
        ids.append(pk)
        vectors.append(vector_of(vector))
    if not vectors:
        return dataset, 0
    unlabelled = np.stack(vectors).astype(np.float32)
    scores = sigmoid_scores(weight, bias, unlabelled)
    # The teacher's columns, in the candidate's order.
    mapped = np.zeros((len(unlabelled), len(dataset.tags)), dtype=np.float32)
    for tag in shared:
        mapped[:, dataset.tags.index(tag)] = scores[:, teacher_tags.index(tag)]
    confident = {
        pk for pk, row in zip(ids, mapped, strict=True) if (row >= settings.TRAIN_PSEUDO_CONFIDENCE).any()
    }
    kept = np.array([pk not in confident for pk in data.photo_ids], dtype=bool)
    return with_pseudo_labels(
        dataset.subset(kept),
        unlabelled,
        mapped,
        confidence=settings.TRAIN_PSEUDO_CONFIDENCE,
        weight=settings.TRAIN_PSEUDO_WEIGHT,
    )


def _gate(data: TrainingData, rows: np.ndarray, candidate_scores: np.ndarray, backbone: str) -> Verdict:
    """Candidate and active model on the same labelled photos (``rows`` of ``data``): the
    candidate's scores come from heads that never saw them; the active model is compared only on
    the photos labelled after it was trained. The active model reads the stored embeddings, unless
    it sees through another backbone, when it looks at the photos themselves."""
    unseen = _unseen_by_active(data, rows)
    active_scores: np.ndarray | None
    active = active_model.sigmoid_head(backbone)
    if active is not None:
        weight, bias, active_tags = active
        active_scores = sigmoid_scores(weight, bias, data.embeddings[rows])
    else:
        active_scores, active_tags = active_model.scores_from_pixels(
            [data.photo_ids[row] for row, new in zip(rows, unseen, strict=True) if new]
        )
        if active_scores is not None:  # only the unseen photos were scored: put them in place
            placed = np.zeros((len(rows), active_scores.shape[1]), dtype=np.float32)
            placed[unseen] = active_scores
            active_scores = placed
    return judge(
        labels=data.labels[rows],
        tags=data.tags,
        candidate_scores=candidate_scores,
        active_scores=active_scores,
        active_tags=active_tags,
        unseen_by_active=unseen,
        tolerance=settings.TRAIN_GATE_TOLERANCE,
        min_map=settings.TRAIN_MIN_FIRST_MAP,
        min_support=settings.TRAIN_GATE_MIN_SUPPORT,
        resamples=settings.TRAIN_GATE_BOOTSTRAP,
    )


def _unseen_by_active(data: TrainingData, rows: np.ndarray) -> np.ndarray:
    """Which of the photos were labelled after the active model's training run started (all of
    them when it was not trained here)."""
    trained_at = active_model.trained_at()
    if trained_at is None:
        return np.ones(len(rows), dtype=bool)
    return np.array(
        [(at := data.labelled_at[row]) is not None and at > trained_at for row in rows], dtype=bool
    )


def _publish(
    run: TrainingRun,
    data: TrainingData,
    head: TrainedHead,
    tags: list[str],
    verdict: Verdict,
    backbone: str,
    body_state: dict[str, torch.Tensor] | None = None,
) -> Manifest:
    """The candidate's bundle, published whatever the verdict (a rejected one is kept with its
    reason), and its registry row. ``head`` scores ``tags``: the tags the gate held back are
    not in it."""
    spec = get_backbone(backbone)
    folder = models_dir()
    # A fine-tuned backbone's embeddings are its own: day zero's head cannot read them. Before the
    # version number: a day-zero bundle published now takes the next number itself.
    fallback = backbone_switch.ensure_day_zero(spec.id) if body_state is None else None
    version = registry.next_version()
    manifest = Manifest(
        version=version,
        # Fine-tuned: the weights travel in the bundle, and its embeddings are a space of their own.
        backbone=BackboneRef(
            id=spec.id,
            embedding_dim=spec.embedding_dim,
            tuned=f"v{version}" if body_state is not None else None,
        ),
        preprocessing=spec.preprocessing,
        head=HeadSpec(kind="sigmoid"),
        tags=tags,
        thresholds=[float(t) for t in head.thresholds],
        metrics=head.metrics,
        dataset_fingerprint=data.fingerprint,
        parent_version=bundle.current_version(folder),
        training_run=run.pk,
        gate={"accepted": verdict.accepted, "reason": verdict.reason, **verdict.numbers},
        fallback_version=fallback,
    )
    bundle.publish(folder, manifest, head={"weight": head.weight, "bias": head.bias}, backbone=body_state)
    registry.register_candidate(manifest, verdict)
    return manifest
