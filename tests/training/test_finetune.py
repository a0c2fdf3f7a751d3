"""Optional backbone fine-tuning (TRAINER_FINETUNE=1), on the CPU with tiny photos: the last
blocks and the head learn from pixels, the bundle carries the backbone, workers load it, its
embeddings live apart, and the next candidate is gated against it on the same photos."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from django.contrib.auth.models import User
from PIL import Image

from api import volume
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tags.services import add_tag
from api.training import runs
from api.training.models import ModelVersion, TrainingRun
from api.training.pipeline import execute_run
from trainer import bundle
from trainer.backbones import get_backbone
from trainer.day_zero import ensure_active_model
from trainer.inference import Tagger
from trainer.manifest import BACKBONE_FILE

pytestmark = pytest.mark.django_db

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 40, 200)}


def coloured_photo(owner: User, kind: str, n: int) -> Photo:
    """A photo of one colour with its own noise, so every file differs."""
    rng = np.random.default_rng(n)
    pixels = np.clip(np.array(COLOURS[kind]) + rng.normal(0, 25, (48, 48, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    photo = upload_photo(owner=owner, data=out.getvalue())
    add_tag(photo=photo, user=owner, name=kind)
    return photo


@pytest.fixture
def finetuning(settings: Any, shared_fs: Path) -> Path:
    settings.MIN_PHOTOS_PER_TAG = 4
    # Photos of one flat colour look like copies to the split; here that is beside the point.
    settings.TRAIN_NEAR_DUPLICATE_COSINE = 0.99999
    settings.TRAIN_MAX_EPOCHS = 40
    settings.TRAINER_FINETUNE = True
    settings.TRAIN_FINETUNE_EPOCHS = 2
    settings.TRAIN_FINETUNE_BLOCKS = 1
    settings.TRAIN_FINETUNE_BATCH = 8
    # Fine-tuning validates on one fold: a couple of photos per tag here.
    settings.TRAIN_GATE_MIN_SUPPORT = 1
    models = shared_fs / "models"
    ensure_active_model(models)
    return models


def run_now() -> TrainingRun:
    run = runs.start_run(trigger="command", enqueue=False)
    claimed = runs.claim_run(run.pk)
    assert claimed is not None
    return execute_run(claimed)


def test_a_fine_tuned_model_carries_its_backbone_and_workers_serve_it(
    alice: User, finetuning: Path, settings: Any
) -> None:
    photos = [coloured_photo(alice, kind, n) for n in range(6) for kind in COLOURS]

    run = run_now()

    assert run.status == "succeeded", run.error
    manifest = bundle.verify(finetuning, 1)
    assert manifest.backbone.weights == BACKBONE_FILE and manifest.backbone.tuned == "v1"
    assert ModelVersion.objects.get(version=1).backbone == "efficientnet_lite0+v1"
    # The head's epochs, then the fine-tuning epochs after them on the same curve.
    tuned = [c for c in run.curves if c.get("stage") == "fine-tuning"]
    assert 1 <= len(tuned) <= 2 and tuned[0]["epoch"] == len(run.curves) - len(tuned) + 1
    assert run.metrics["finetune"]["blocks"] == 1 and run.metrics["top1_accuracy"] >= 0.9

    # Whatever moved, it was not before the last stage: that is still the package's backbone.
    original = get_backbone("efficientnet_lite0").build().body.state_dict()
    shipped = bundle.load_tensors(finetuning, 1, BACKBONE_FILE)
    assert torch.equal(shipped["conv_stem.weight"], original["conv_stem.weight"])
    assert torch.equal(shipped["blocks.0.0.conv_dw.weight"], original["blocks.0.0.conv_dw.weight"])

    tagger = Tagger.load(finetuning, 1, device="cpu")
    assert tagger.backbone_id == "efficientnet_lite0+v1"  # its embeddings are stored apart
    for photo in photos[:3]:
        prediction = tagger.predict_sources([volume.original_path(photo.content_hash, photo.file_ext)])[0]
        assert not isinstance(prediction, Exception)
        assert tagger.tags[int(np.argmax(prediction.scores))] == photo.photo_tags.get().tag.name

    # The next candidate (head only) is gated against the fine-tuned model on the same photos,
    # the active model looking at the pixels since the two share no stored embeddings.
    settings.TRAINER_FINETUNE = False
    photos += [coloured_photo(alice, kind, 100 + n) for n in range(2) for kind in COLOURS]
    second = run_now()
    assert second.status in {"succeeded", "rejected"}, second.error
    assert second.metrics["gate"]["shared_tags"] == 3
    assert second.metrics["gate"]["active_map_shared"] > 0.9  # the fine-tuned model, scored from pixels


def test_fine_tuning_trains_only_the_last_stage_and_improves_on_a_blank_head(shared_fs: Path) -> None:
    """The core alone: from a head that knows nothing, a few epochs on pixels must learn the
    colours, moving the last stage and the head and nothing before them."""
    from trainer.finetune import finetune
    from trainer.training import LabelledSet, TrainedHead

    files, kinds = [], []
    for n in range(8):
        for kind in COLOURS:
            rng = np.random.default_rng(n)
            pixels = np.clip(np.array(COLOURS[kind]) + rng.normal(0, 25, (48, 48, 3)), 0, 255)
            path = shared_fs / f"{kind}-{n}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            files.append(path)
            kinds.append(kind)
    tags = sorted(COLOURS)
    labels = np.array([[k == t for t in tags] for k in kinds], dtype=np.float32)
    data = LabelledSet(
        embeddings=np.zeros((len(files), 1280), np.float32),
        labels=labels,
        weights=np.ones_like(labels),
        folds=np.array([n % 4 for n in range(len(files))]),
        tags=tags,
    )
    blank = TrainedHead(torch.zeros(3, 1280), torch.zeros(3), np.full(3, 0.5), {}, np.empty((0, 3)))

    tuned = finetune(
        backbone_id="efficientnet_lite0", start=blank, data=data, files=files, epochs=3, blocks=1,
        batch_size=8, learning_rate=3e-3, device="cpu",
    )  # fmt: skip

    assert tuned.head.metrics["finetune"]["best_epoch"] >= 1
    assert tuned.head.metrics["map"] > 0.9 and tuned.validation_scores.shape == (
        int((data.folds == 0).sum()),
        3,
    )
    original = get_backbone("efficientnet_lite0").build().body.state_dict()
    moved = {name for name, value in tuned.body_state.items() if not torch.equal(value, original[name])}
    assert moved and all(name.startswith(("blocks.6.", "conv_head", "bn2")) for name in moved)
    assert [c["epoch"] for c in tuned.head.curves] == list(range(1, tuned.head.epochs_run + 1))
