"""The model registry follows the volume, written only by the processes that change it: reading
the model list or the dashboard writes no row, the trainer's sweep registers what was published
outside any run, and a rollback re-points CURRENT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from api.training.models import ModelVersion
from api.training.registry import ActivationRefused, activate_version
from api.training.tasks import sweep_runs
from tests.helpers.bundles import publish_head
from trainer import bundle
from trainer.day_zero import ensure_active_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def models(shared_fs: Path) -> Path:
    folder = shared_fs / "models"
    ensure_active_model(folder)  # as the first tagging worker does, before it registers it
    return folder


def test_reading_the_model_list_and_the_dashboard_writes_no_row(
    models: Path, make_user: Callable[..., User]
) -> None:
    staff = Client()
    staff.force_login(make_user("boss", staff=True))

    assert APIClient().get("/api/models/").json() == []
    assert staff.get("/staff/").status_code == 200
    assert not ModelVersion.objects.exists()


def test_the_trainers_sweep_registers_a_bundle_published_outside_any_run(models: Path) -> None:
    sweep_runs()

    assert list(ModelVersion.objects.values_list("version", "status")) == [(0, "active")]
    assert APIClient().get("/api/models/").json()[0]["version"] == 0


def test_a_rollback_re_points_current_and_the_rows_follow(models: Path) -> None:
    publish_head(models, 1, ["a"], [1.0])
    activate_version(version=1)

    activate_version(version=0)

    assert bundle.current_version(models) == 0
    assert dict(ModelVersion.objects.values_list("version", "status")) == {0: "active", 1: "retired"}
    with pytest.raises(ActivationRefused, match="no model version 7"):
        activate_version(version=7)
