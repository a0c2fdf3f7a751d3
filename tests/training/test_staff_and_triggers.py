"""Ways to start training and roll back besides the API: the staff dashboard, the schedule, the
management command and the Django admin."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from api.training.models import ModelVersion, TrainingRun
from api.training.registry import sync_versions
from api.training.tasks import check_schedule
from tests.helpers.training import separable_photos
from trainer import bundle
from trainer.day_zero import ensure_active_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def models(shared_fs: Path, settings: Any) -> Path:
    settings.MIN_PHOTOS_PER_TAG = 4
    settings.TRAIN_MAX_EPOCHS = 60
    folder = shared_fs / "models"
    ensure_active_model(folder)
    sync_versions()  # what the first tagging worker does once it has published version 0
    return folder


def staff_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("boss", staff=True))
    return client


def test_the_dashboard_is_for_staff_only(alice: User, make_user: Any, models: Path) -> None:
    member = Client()
    member.force_login(alice)

    assert member.get("/staff/").status_code == 302  # to the staff log-in
    page = staff_client(make_user).get("/staff/")
    assert page.status_code == 200 and b"Retrain now" in page.content and b"v0" in page.content


def test_retrain_now_queues_one_run_and_a_second_press_says_one_is_going(
    make_user: Any, models: Path
) -> None:
    client = staff_client(make_user)

    first = client.post("/staff/retrain/", follow=True)
    second = client.post("/staff/retrain/", follow=True)

    assert TrainingRun.objects.count() == 1
    run = TrainingRun.objects.get()
    assert (run.trigger, run.requested_by.username if run.requested_by else None) == ("dashboard", "boss")
    assert f"Training run {run.pk} is queued." in first.content.decode()
    assert "is already queued" in second.content.decode()
    assert 'hx-trigger="every 1s"' in second.content.decode()  # progress polls while it runs


def test_the_management_command_trains_with_a_progress_bar(alice: User, models: Path) -> None:
    separable_photos(alice, per_kind=12)
    out, err = io.StringIO(), io.StringIO()

    call_command("train", stdout=out, stderr=err)

    assert f"Run {TrainingRun.objects.get().pk}: succeeded, model version 1, validation mAP" in out.getvalue()
    assert "[##############################] 100% done" in err.getvalue()
    assert "training epoch" in err.getvalue()
    assert bundle.current_version(models) == 1


def test_the_dashboard_rolls_back_with_one_click(alice: User, make_user: Any, models: Path) -> None:
    separable_photos(alice, per_kind=12)
    call_command("train", stdout=io.StringIO(), stderr=io.StringIO())
    client = staff_client(make_user)

    page = client.post("/staff/models/0/activate/", follow=True).content.decode()

    assert "Version 0 is active" in page
    assert bundle.current_version(models) == 0
    assert ModelVersion.objects.get(version=1).status == "retired"


def test_the_schedule_starts_a_run_only_after_enough_new_labels(
    alice: User, models: Path, settings: Any
) -> None:
    settings.TRAIN_MIN_NEW_LABELS = 30
    separable_photos(alice, per_kind=5)  # 15 labels
    assert check_schedule() == "15 new labels, waiting for 30"
    assert TrainingRun.objects.count() == 0

    separable_photos(alice, per_kind=5, seed=1)  # 30 labels

    assert check_schedule() == "started"
    assert TrainingRun.objects.get().trigger == "schedule"


def test_the_django_admin_activates_a_version(alice: User, make_user: Any, models: Path) -> None:
    separable_photos(alice, per_kind=12)
    call_command("train", stdout=io.StringIO(), stderr=io.StringIO())
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "", "x"))
    version0 = ModelVersion.objects.get(version=0)

    admin.post(
        "/admin/training/modelversion/",
        {"action": "activate", "_selected_action": [version0.pk]},
        follow=True,
    )

    assert bundle.current_version(models) == 0
