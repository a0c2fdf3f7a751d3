"""The whole self-training loop with real workers on PostgreSQL and Redis: people tag photos of a
few kinds, staff retrain, the new model is published and activated, the tagging worker tags new
uploads with the new tags; then a rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from api.photos.models import Photo
from api.tagging import retag
from api.tagging.retag import retag_due
from api.tags.models import PhotoTag, TagSource
from tests.helpers.clients import client_for, upload
from tests.helpers.images import KINDS, photo_of_kind
from tests.helpers.workers import (
    env_for_test_database,
    module_fs,
    shared_fs,
    tagged,
    tagging_and_training_workers,
    wait_until,
)
from trainer import bundle

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
# Noise photos of one colour look alike to the backbone (cosine up to 0.99); they are not copies.
TRAINING_ENV = {"MIN_PHOTOS_PER_TAG": "4", "TRAIN_MAX_EPOCHS": "80", "TRAIN_NEAR_DUPLICATE_COSINE": "0.999"}


@pytest.fixture(scope="module")
def workers(
    module_fs: Path, tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[None]:
    env = env_for_test_database(module_fs, **TRAINING_ENV)
    with tagging_and_training_workers(env, tmp_path_factory.mktemp("logs")):
        yield


def finished(run_id: int, staff: User) -> dict[str, Any]:
    client = client_for(staff)
    wait_until(
        lambda: client.get(f"/api/training-runs/{run_id}/").json()["status"] not in {"queued", "running"},
        timeout=180,
        what=f"training run {run_id}",
    )
    return dict(client.get(f"/api/training-runs/{run_id}/").json())


def test_people_tag_staff_retrain_and_new_uploads_get_the_new_tags_then_roll_back(
    workers: None, shared_fs: Path, alice: User, make_user: Any
) -> None:
    staff = make_user("boss", staff=True)
    owner = client_for(alice)
    uploaded = [
        upload(owner, photo_of_kind(kind, seed), f"{kind}{seed}.jpg", tags=kind).json()["id"]
        for seed in range(12)
        for kind in KINDS
    ]
    wait_until(
        lambda: Photo.objects.filter(pk__in=uploaded, status="tagged").count() == len(uploaded), 120, "v0"
    )

    started = client_for(staff).post("/api/training-runs/")
    assert started.status_code == 202
    run = finished(started.json()["id"], staff)

    assert run["status"] == "succeeded", run["error"]
    assert run["model_version"] == 1 and run["metrics"]["map"] > 0.9
    assert run["curves"] and run["progress"] == 1.0
    assert bundle.current_version(shared_fs / "models") == 1
    for seed, kind in enumerate(KINDS, start=100):
        photo_id = upload(owner, photo_of_kind(kind, seed), "new.jpg").json()["id"]
        wait_until(tagged(photo_id, 1), what=f"a new {kind} photo tagged by version 1")
        best = PhotoTag.objects.filter(photo_id=photo_id, source="model").order_by("-score").first()
        assert best is not None and best.tag.name == kind

    rollback = client_for(staff).post("/api/models/0/activate/")
    assert rollback.status_code == 200
    photo_id = upload(owner, photo_of_kind("reds", 999), "after.jpg").json()["id"]
    wait_until(tagged(photo_id, 0), what="the rolled-back version 0 to tag")
    assert not PhotoTag.objects.filter(photo_id=photo_id, tag__name__in=list(KINDS)).exists()
    # The photos version 1 tagged go back to version 0 in the background; people's tags stay.
    wait_until(lambda: not retag_due(0).exists(), 120, "version 0 to re-tag what version 1 tagged")
    progress = retag.progress()  # the workers counted it on its progress row
    assert progress is not None and progress.version == 0 and progress.done >= len(KINDS)  # at least the new
    assert not PhotoTag.objects.filter(
        photo_id__in=uploaded, source=TagSource.MODEL, model_version=1
    ).exists()
    assert PhotoTag.objects.filter(photo_id__in=uploaded, source=TagSource.USER).count() == len(uploaded)
