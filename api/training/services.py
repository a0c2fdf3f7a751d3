"""Training runs and the model registry: start a run (one at a time), claim it, run it, gate the
candidate, publish it, activate or roll back. Free of torch at import: the trainer's heavy work
is imported inside ``execute_run``."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from api.photos.models import Photo
from api.tagging.services import active_version, models_dir, request_tagging
from api.training.models import ModelVersion, TrainingRun
from api.training.selectors import LAST_CHECK_KEY
from trainer import bundle

log = logging.getLogger(__name__)
Status = TrainingRun.Status


class RunInProgress(Exception):
    def __init__(self, run: TrainingRun) -> None:
        super().__init__(f"Training run {run.pk} is already {run.status}.")
        self.run = run


class ActivationRefused(ValueError):
    pass


# ------------------------------------------------------------------ the registry


def sync_versions() -> list[ModelVersion]:
    """Registry rows for bundles on the volume that have none (version 0 is published by the
    first worker, outside any run), and the active flag as CURRENT says."""
    folder = models_dir()
    current = active_version()
    known = set(ModelVersion.objects.values_list("version", flat=True))
    for version in bundle.list_versions(folder):
        if version in known:
            continue
        try:
            manifest = bundle.read_manifest(folder, version)
        except bundle.BundleError as error:
            log.warning("bundle %s is unreadable: %s", version, error)
            continue
        ModelVersion.objects.get_or_create(
            version=version,
            defaults={
                "status": ModelVersion.Status.ACTIVE if version == current else ModelVersion.Status.RETIRED,
                "backbone": bundle.embedding_space(manifest),
                "tags": manifest["tags"],
                "metrics": manifest.get("metrics", {}),
                "reason": manifest.get("description", ""),
                "parent_version": manifest.get("parent_version"),
                "activated_at": timezone.now() if version == current else None,
            },
        )
    if current is not None:
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(version=current).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(version=current).exclude(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now()
        )
    return list(ModelVersion.objects.all())


def activate_version(*, version: int) -> ModelVersion:
    """Makes ``version`` the model workers serve (a rollback is the same move). The bundle is
    verified first; a broken one is refused and nothing changes."""
    sync_versions()
    row = ModelVersion.objects.filter(version=version).first()
    if row is None:
        raise ActivationRefused(f"There is no model version {version}.")
    try:
        bundle.activate(models_dir(), version)
    except bundle.BundleError as error:
        raise ActivationRefused(f"Version {version} cannot be activated: {error}") from None
    with transaction.atomic():
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(version=version).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(version=version).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now()
        )
        request_tagging()  # photos tagged by other versions get re-tagged
    row.refresh_from_db()
    return row


# ------------------------------------------------------------------ runs


def start_run(*, trigger: str, user: User | None = None, enqueue: bool = True) -> TrainingRun:
    """Queues a run; raises RunInProgress with the run already queued or running (the partial
    unique index makes two simultaneous requests produce one run)."""
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(trigger=trigger, requested_by=user)
            if enqueue:
                transaction.on_commit(lambda: _send_run(run.pk))
    except IntegrityError:
        active = TrainingRun.objects.filter(status__in=TrainingRun.ACTIVE_STATES).first()
        if active is None:  # it finished between our insert and this read
            return start_run(trigger=trigger, user=user, enqueue=enqueue)
        raise RunInProgress(active) from None
    return run


def _send_run(run_id: int) -> None:
    from api.training.tasks import run_training

    try:
        run_training.apply_async((run_id,), retry=True, retry_policy={"max_retries": 2})
    except Exception:
        log.warning("could not send training run %s to the trainer", run_id, exc_info=True)


def claim_run(run_id: int) -> TrainingRun | None:
    """Queued -> running, atomically: a run is executed once even if its message arrives twice."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, phase="starting"
    )
    return TrainingRun.objects.get(pk=run_id) if claimed else None


def fail_dead_runs(*, older_than: timedelta | None = None, reason: str) -> int:
    """Runs whose trainer died: marked failed. With ``older_than`` None, every running run (a
    trainer starting up knows none of them is alive, since it runs one at a time)."""
    runs = TrainingRun.objects.filter(status=Status.RUNNING)
    if older_than is not None:
        runs = runs.filter(heartbeat_at__lt=timezone.now() - older_than)
    return runs.update(status=Status.FAILED, error=reason, finished_at=timezone.now(), phase="failed")


def clean_staging() -> None:
    """Temporary bundle folders of a publisher that died; never a published version."""
    folder = models_dir()
    if folder.is_dir():
        for staging in folder.glob(".tmp-*"):
            shutil.rmtree(staging, ignore_errors=True)


def new_labels_since_last_run() -> int:
    from api.tags.models import PhotoTag, TagState

    last = TrainingRun.objects.exclude(started_at=None).order_by("-started_at").first()
    labels = PhotoTag.objects.filter(state__in=[TagState.CONFIRMED, TagState.REJECTED])
    if last is not None and last.started_at is not None:
        labels = labels.filter(updated_at__gt=last.started_at)
    return labels.count()


def check_schedule() -> str:
    """The schedule's rule: a run once ``TRAIN_MIN_NEW_LABELS`` new vouched-for labels arrived
    since the last one; a queued run whose message was lost is sent again. The outcome, in words,
    is recorded for the dashboard and returned."""
    result = _scheduled_action()
    record_schedule_check(result=result)
    return result


def _scheduled_action() -> str:
    queued = TrainingRun.objects.filter(status=Status.QUEUED).first()
    if queued is not None:
        _send_run(queued.pk)
        return "re-sent"
    new = new_labels_since_last_run()
    if new < settings.TRAIN_MIN_NEW_LABELS:
        return f"{new} new labels, waiting for {settings.TRAIN_MIN_NEW_LABELS}"
    try:
        start_run(trigger=TrainingRun.Trigger.SCHEDULE)
    except RunInProgress:
        return "a run is in progress"
    return "started"


def record_schedule_check(*, result: str) -> None:
    """The time and outcome of the schedule's latest check, for the dashboard; kept until the
    next check overwrites it (a lost cache only means "no check recorded yet")."""
    cache.set(LAST_CHECK_KEY, {"at": timezone.now(), "result": result}, timeout=None)


class _Reporter:
    """Writes progress to the run's row (at most every half second) and to an optional callback."""

    def __init__(self, run: TrainingRun, callback: Callable[[TrainingRun], None] | None) -> None:
        self.run = run
        self.callback = callback
        self._last = 0.0

    def phase(self, name: str, progress: float) -> None:
        self.save(phase=name, progress=progress, force=True)

    def save(self, force: bool = False, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.run, key, value)
        now = time.monotonic()
        if force or now - self._last > 0.5:
            self._last = now
            self.run.heartbeat_at = timezone.now()
            TrainingRun.objects.filter(pk=self.run.pk).update(
                heartbeat_at=self.run.heartbeat_at, **self._row()
            )
        if self.callback:
            self.callback(self.run)

    def _row(self) -> dict[str, Any]:
        fields = ("phase", "progress", "epoch", "total_epochs", "curves", "metrics", "dataset_fingerprint")
        return {name: getattr(self.run, name) for name in fields}


def _finish(run: TrainingRun, status: str, **fields: Any) -> TrainingRun:
    fields.update(
        status=status, finished_at=timezone.now(), progress=1.0 if status != Status.FAILED else run.progress
    )
    TrainingRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def execute_run(run: TrainingRun, *, progress: Callable[[TrainingRun], None] | None = None) -> TrainingRun:
    """Runs a claimed run to its end. Any error fails the run with its message; the bundle is
    published atomically, so a failure never leaves half a model behind."""
    try:
        return _execute(run, _Reporter(run, progress))
    except Exception as error:
        log.exception("training run %s failed", run.pk)
        return _finish(run, Status.FAILED, error=f"{type(error).__name__}: {error}", phase="failed")


def _execute(run: TrainingRun, report: _Reporter) -> TrainingRun:
    from api.training import embeddings, labels
    from trainer.backbones import DEFAULT_BACKBONE
    from trainer.training import LabelledSet, train_head

    report.phase("collecting labels", 0.02)
    collected = labels.collect_labels()
    report.phase("computing missing embeddings", 0.05)
    embeddings.compute_missing(
        sorted({label.photo_id for label in collected.labels}), backbone=DEFAULT_BACKBONE
    )
    data = labels.build_training_data(collected, DEFAULT_BACKBONE)
    report.save(dataset_fingerprint=data.fingerprint, force=True)
    if not data.tags:
        return _finish(
            run,
            Status.SKIPPED,
            phase="skipped",
            error=f"No tag has {settings.MIN_PHOTOS_PER_TAG} vouched-for photos yet; "
            f"closest: {', '.join(f'{t} ({n})' for t, n in list(data.near_tags.items())[:5]) or 'none'}.",
        )
    previous = (
        TrainingRun.objects.filter(status__in=[Status.SUCCEEDED, Status.REJECTED])
        .exclude(pk=run.pk)
        .order_by("-finished_at")
        .first()
    )
    if previous is not None and previous.dataset_fingerprint == data.fingerprint:
        return _finish(
            run,
            Status.SKIPPED,
            phase="skipped",
            error=f"The training data has not changed since run {previous.pk} "
            f"(fingerprint {data.fingerprint[:12]}).",
        )
    if data.validation.all() or not data.validation.any():
        return _finish(
            run, Status.SKIPPED, phase="skipped", error="Too few photos to hold some out for validation."
        )

    max_epochs = settings.TRAIN_MAX_EPOCHS

    def on_epoch(epoch: int, total: int, record: dict[str, float]) -> None:
        report.save(
            phase="training",
            epoch=epoch,
            total_epochs=total,
            curves=[*report.run.curves, record],
            progress=0.1 + 0.8 * epoch / total,
        )

    report.save(phase="training", total_epochs=max_epochs, curves=[], force=True)
    dataset = LabelledSet(data.embeddings, data.labels, data.weights, data.validation, data.tags)
    pseudo = 0
    if settings.TRAIN_SEMI_SUPERVISED:
        dataset, pseudo = _with_teacher(dataset, data.photo_ids, DEFAULT_BACKBONE)
    head = train_head(dataset, max_epochs=max_epochs, patience=settings.TRAIN_PATIENCE, progress=on_epoch)
    tuned = None
    if settings.TRAINER_FINETUNE:
        tuned = _finetune(data, head, report, DEFAULT_BACKBONE)
        head = tuned.head
    report.phase("evaluating", 0.92)
    verdict = _gate(data, head, DEFAULT_BACKBONE, tuned.validation_scores if tuned else None)
    report.phase("publishing", 0.96)
    version = _publish(run, data, head, verdict, DEFAULT_BACKBONE, tuned.body_state if tuned else None)
    metrics = {
        **head.metrics,
        "gate": verdict.numbers,
        "epochs": head.epochs_run,
        "pseudo_labelled_photos": pseudo,
    }
    if verdict.accepted:
        activate_version(version=version)
        return _finish(
            run, Status.SUCCEEDED, phase="done", metrics=metrics, model_version=version, curves=head.curves
        )
    return _finish(
        run,
        Status.REJECTED,
        phase="done",
        metrics=metrics,
        model_version=version,
        curves=head.curves,
        error=verdict.reason,
    )


def _photo_files(photo_ids: list[int]) -> list[Any]:
    from api.photos import storage

    photos = Photo.objects.filter(pk__in=photo_ids).only("content_hash", "file_ext").in_bulk()
    missing = [pk for pk in photo_ids if pk not in photos]
    if missing:
        raise ValueError(f"photos {missing[:5]} were deleted while the run was preparing; run it again")
    return [storage.original_path(photos[pk].content_hash, photos[pk].file_ext) for pk in photo_ids]


def _finetune(data: Any, head: Any, report: _Reporter, backbone: str) -> Any:
    """The backbone's last blocks and the head, trained on the labelled photos' pixels; its
    epochs continue the head's curve so the dashboard shows one run."""
    from trainer.finetune import finetune
    from trainer.training import LabelledSet

    done = head.epochs_run
    epochs = settings.TRAIN_FINETUNE_EPOCHS
    report.save(phase="fine-tuning", epoch=done, total_epochs=done + epochs, force=True)

    def on_epoch(epoch: int, total: int, record: dict[str, float]) -> None:
        report.save(
            phase="fine-tuning",
            epoch=done + epoch,
            total_epochs=done + total,
            curves=[*report.run.curves, {**record, "epoch": done + epoch, "stage": "fine-tuning"}],
            progress=0.5 + 0.4 * epoch / total,
        )

    # Human labels only: pseudo-labelled photos have no place in a pass over pixels.
    human = LabelledSet(data.embeddings, data.labels, data.weights, data.validation, data.tags)
    tuned = finetune(
        backbone_id=backbone,
        start=head,
        data=human,
        files=_photo_files(data.photo_ids),
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


def _active_sigmoid_head(backbone: str) -> tuple[Any, Any, list[str]] | None:
    """The active model's head when it is a trained one on ``backbone``, else None."""
    current = bundle.current_version(models_dir())
    if current is None:
        return None
    manifest = bundle.verify(models_dir(), current)
    if manifest["head"]["kind"] != "sigmoid" or bundle.embedding_space(manifest) != backbone:
        return None
    weights = bundle.load_tensors(models_dir(), current, manifest["head"].get("file", "head.safetensors"))
    return weights["weight"], weights["bias"], list(manifest["tags"])


def _with_teacher(dataset: Any, labelled_ids: list[int], backbone: str) -> tuple[Any, int]:
    import numpy as np

    from api.tagging.models import PhotoEmbedding
    from trainer.training import sigmoid_scores, with_pseudo_labels

    teacher = _active_sigmoid_head(backbone)
    if teacher is None:
        return dataset, 0
    weight, bias, teacher_tags = teacher
    shared = [t for t in dataset.tags if t in teacher_tags]
    if not shared:
        return dataset, 0
    rows = PhotoEmbedding.objects.filter(backbone=backbone).exclude(photo_id__in=labelled_ids)
    vectors = [
        np.frombuffer(bytes(v), dtype=np.float16) for v in rows.values_list("vector", flat=True)[:20000]
    ]
    if not vectors:
        return dataset, 0
    unlabelled = np.stack(vectors).astype(np.float32)
    scores = sigmoid_scores(weight, bias, unlabelled)
    # The teacher's columns, in the candidate's order; tags it does not know score 0.
    mapped = np.zeros((len(unlabelled), len(dataset.tags)), dtype=np.float32)
    for tag in shared:
        mapped[:, dataset.tags.index(tag)] = scores[:, teacher_tags.index(tag)]
    return with_pseudo_labels(
        dataset,
        unlabelled,
        mapped,
        confidence=settings.TRAIN_PSEUDO_CONFIDENCE,
        weight=settings.TRAIN_PSEUDO_WEIGHT,
    )


def _gate(data: Any, head: Any, backbone: str, candidate_scores: Any = None) -> Any:
    """Candidate and active model on the same validation photos. ``candidate_scores`` come with a
    fine-tuned candidate (its own pixels pass); otherwise both read the stored embeddings, unless
    the active model sees through another backbone, when it looks at the photos themselves."""
    from trainer.gate import judge
    from trainer.training import sigmoid_scores

    val = data.validation
    if candidate_scores is None:
        candidate_scores = sigmoid_scores(head.weight, head.bias, data.embeddings[val])
    active_scores: Any = None
    active_tags: list[str] = []
    active = _active_sigmoid_head(backbone)
    if active is not None:
        weight, bias, active_tags = active
        active_scores = sigmoid_scores(weight, bias, data.embeddings[val])
    else:
        active_scores, active_tags = _active_scores_from_pixels(
            [pk for pk, held in zip(data.photo_ids, val, strict=True) if held]
        )
    return judge(
        labels=data.labels[val],
        tags=data.tags,
        candidate_scores=candidate_scores,
        active_scores=active_scores,
        active_tags=active_tags,
        tolerance=settings.TRAIN_GATE_TOLERANCE,
        min_map=settings.TRAIN_MIN_FIRST_MAP,
    )


def _active_scores_from_pixels(photo_ids: list[int]) -> tuple[Any, list[str]]:
    """The active trained model's scores, computed from the photos (a fine-tuned backbone has no
    stored embeddings the candidate shares). Day zero shares no tags: (None, [])."""
    import numpy as np

    from trainer.inference import Prediction, Tagger

    current = bundle.current_version(models_dir())
    if current is None or bundle.read_manifest(models_dir(), current)["head"]["kind"] != "sigmoid":
        return None, []
    tagger = Tagger.load(models_dir(), current, device=settings.TAGGER_DEVICE)
    scores = np.zeros((len(photo_ids), len(tagger.tags)), dtype=np.float32)
    files = _photo_files(photo_ids)
    for start in range(0, len(files), 32):
        for row, result in enumerate(tagger.predict_sources(files[start : start + 32]), start=start):
            if isinstance(result, Prediction):
                scores[row] = result.scores
    return scores, tagger.tags


def _publish(
    run: TrainingRun, data: Any, head: Any, verdict: Any, backbone: str, body_state: Any = None
) -> int:
    from trainer.backbones import get_backbone
    from trainer.model import BACKBONE_FILE, HEAD_FILE

    spec = get_backbone(backbone)
    folder = models_dir()
    known = ModelVersion.objects.aggregate(top=Max("version"))["top"]
    version = max(bundle.next_version(folder), (known or 0) + 1)
    manifest = {
        "version": version,
        "backbone": {"id": spec.id, "embedding_dim": spec.embedding_dim, "weights": "package"}
        if body_state is None
        # Fine-tuned: the weights travel in the bundle, and its embeddings are a space of their own.
        else {
            "id": spec.id,
            "embedding_dim": spec.embedding_dim,
            "weights": BACKBONE_FILE,
            "tuned": f"v{version}",
        },
        "preprocessing": spec.preprocessing.to_dict(),
        "head": {"kind": "sigmoid", "file": HEAD_FILE},
        "tags": data.tags,
        "thresholds": [float(t) for t in head.thresholds],
        "metrics": head.metrics,
        "dataset_fingerprint": data.fingerprint,
        "parent_version": bundle.current_version(folder),
        "training_run": run.pk,
        "gate": {"accepted": verdict.accepted, "reason": verdict.reason, **verdict.numbers},
    }
    tensors = {HEAD_FILE: {"weight": head.weight, "bias": head.bias}}
    if body_state is not None:
        tensors[BACKBONE_FILE] = body_state
    bundle.publish(folder, manifest, tensors)
    ModelVersion.objects.create(
        version=version,
        status=ModelVersion.Status.CANDIDATE if verdict.accepted else ModelVersion.Status.REJECTED,
        backbone=bundle.embedding_space(manifest),
        tags=data.tags,
        metrics={**head.metrics, "gate": verdict.numbers},
        reason=verdict.reason,
        dataset_fingerprint=data.fingerprint,
        parent_version=manifest["parent_version"],
    )
    return version
