"""Switching a running site's backbone with real workers on PostgreSQL and Redis: the active model
keeps tagging uploads while the workers embed the library with the new backbone, the backlog is in
/api/system/, and the first model trained on the new backbone takes over when the gate accepts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from api.photos.models import Photo
from api.tagging.models import PhotoEmbedding
from api.tagging.retag import retag_due
from tests.helpers.clients import client_for, upload
from tests.helpers.workers import (
    celery_worker,
    env_for_test_database,
    module_fs,
    shared_fs,
    tagged,
    wait_until,
)
from tests.training.test_training_loop import KINDS, TRAINING_ENV, finished, photo_of_kind
from trainer import bundle

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
OLD, NEW = "efficientnet_lite0", "efficientnet_lite1"


def embedded(backbone: str) -> int:
    return PhotoEmbedding.objects.filter(backbone=backbone, photo__status="tagged").count()


def test_a_backbone_switch_keeps_serving_throughout_and_ends_with_the_new_backbone_active(
    shared_fs: Path, tmp_path: Path, alice: User, make_user: Any, settings: Any
) -> None:
    from api.celery import app

    boss = make_user("boss", staff=True)
    staff = client_for(boss)
    owner = client_for(alice)
    app.control.purge()
    env = env_for_test_database(shared_fs, **TRAINING_ENV, TAGGER_BACKBONE=OLD)
    with celery_worker("tagging", env=env, log=tmp_path / "tagging-old.log"):
        library = [upload(owner, photo_of_kind(kind, seed), f"{kind}{seed}.jpg", tags=kind).json()["id"]
                   for seed in range(6) for kind in KINDS]  # fmt: skip
        wait_until(lambda: Photo.objects.filter(pk__in=library, status="tagged").count() == len(library),
                   120, "day zero on Lite0 to tag the library")  # fmt: skip
    assert embedded(OLD) == len(library) and embedded(NEW) == 0

    # The site is restarted with TAGGER_BACKBONE naming Lite1; beat's sweep starts the switch.
    settings.TAGGER_BACKBONE = NEW
    env = env_for_test_database(shared_fs, **TRAINING_ENV, TAGGER_BACKBONE=NEW, TAGGER_SWEEP_SECONDS="5")
    with (
        celery_worker("tagging", env=env, log=tmp_path / "tagging.log"),
        celery_worker("training", env=env, log=tmp_path / "trainer.log", beat=True),
    ):
        switch = staff.get("/api/system/").json()["backbone_switch"]
        assert switch["from"] == OLD and switch["to"] == NEW and switch["photos"] == len(library)
        # Uploads during the switch are tagged at once by the model that is serving.
        during = upload(owner, photo_of_kind("reds", 900), "during.jpg").json()["id"]
        wait_until(tagged(during, 0), 60, "the serving Lite0 model to tag an upload during the switch")
        wait_until(
            lambda: embedded(NEW) == len(library) + 1, 180, "the workers to embed the library with Lite1"
        )
        switch = staff.get("/api/system/").json()["backbone_switch"]
        assert switch["backlog"] == 0 and switch["coverage"] == 1.0
        day_zero_new = switch["day_zero_version"]
        assert bundle.read_manifest(shared_fs / "models", day_zero_new).embedding_space == NEW
        assert bundle.current_version(shared_fs / "models") == 0  # still serving the old model

        run = finished(staff.post("/api/training-runs/").json()["id"], boss)
        uploaded_while_training = upload(owner, photo_of_kind("greens", 901), "training.jpg").json()["id"]

        assert run["status"] == "succeeded", run["error"]
        manifest = bundle.read_manifest(shared_fs / "models", run["model_version"])
        assert manifest.embedding_space == NEW and manifest.fallback_version == day_zero_new
        assert bundle.current_version(shared_fs / "models") == run["model_version"]
        wait_until(
            lambda: not retag_due(run["model_version"]).exists(), 120, "re-tagging with the Lite1 model"
        )
        wait_until(
            tagged(uploaded_while_training, run["model_version"]), 60, "the upload made while training"
        )
        system = staff.get("/api/system/").json()
        assert system["backbone_switch"] is None and system["active_model"]["backbone"] == NEW
        assert system["active_model"]["backbone_note"] == ""
        fresh = upload(owner, photo_of_kind("blues", 902), "after.jpg").json()["id"]
        wait_until(tagged(fresh, run["model_version"]), 60, "a new upload tagged by the Lite1 model")
        top = max(staff.get(f"/api/photos/{fresh}/").json()["tags"], key=lambda t: t.get("score") or 0)
        assert top["name"] == "blues"
