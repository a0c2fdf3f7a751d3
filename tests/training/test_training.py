"""The self-training loop without Celery: which labels count, metrics, the gate, runs, the registry
and its API. (Real workers run the whole loop in test_training_loop.py.)"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from api.photos.models import Photo
from api.tagging.models import PhotoEmbedding
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote
from api.tags.services import add_tag, vote
from api.training import runs
from api.training.labels import build_training_data
from api.training.models import ModelVersion, TrainingRun
from api.training.pipeline import execute_run
from api.training.vouched import collect_labels, user_trust
from tests.helpers.clients import client_for
from tests.helpers.training import KINDS, bare_photo, separable_photos, with_embedding
from trainer import bundle
from trainer.day_zero import ensure_active_model
from trainer.manifest import HEAD_FILE
from trainer.metrics import average_precision, choose_thresholds, evaluate

pytestmark = pytest.mark.django_db


def model_tag(photo: Photo, name: str) -> PhotoTag:
    return PhotoTag.objects.create(
        photo=photo, tag=Tag.objects.get_or_create(name=name)[0], source=TagSource.MODEL,
        state=TagState.SUGGESTED, score=0.7, model_version=0,
    )  # fmt: skip


class TestWhichLabelsCount:
    def test_owner_tags_and_confirmed_suggestions_are_positives_and_rejections_negatives(
        self, alice: User, bob: User
    ) -> None:
        photo = bare_photo(alice, 1)
        add_tag(photo=photo, user=alice, name="beach")
        model_tag(photo, "sea")
        vote(photo=photo, user=bob, name="sea", value="confirm")
        model_tag(photo, "snow")
        vote(photo=photo, user=alice, name="snow", value="reject")
        model_tag(photo, "sand")  # nobody looked at it

        labels = {(label.tag, label.positive): label.weight for label in collect_labels().labels}

        # bob's trust: his one vote agrees with the final state, (1 + 1) / (1 + 2).
        assert labels == {("beach", True): 1.0, ("sea", True): pytest.approx(2 / 3), ("snow", False): 1.0}

    def test_tags_on_private_and_unlisted_photos_never_become_labels(self, alice: User) -> None:
        # The model's tag names, suggestions and vocabulary are shown to everyone.
        for n, visibility in enumerate(["public", "unlisted", "private"]):
            add_tag(photo=bare_photo(alice, n, visibility), user=alice, name=f"on_{visibility}")

        assert {label.tag for label in collect_labels().labels} == {"on_public"}

    def test_a_persons_suggestion_needs_enough_trusted_people(
        self, alice: User, bob: User, carol: User
    ) -> None:
        photo = bare_photo(alice, 1)
        add_tag(photo=photo, user=bob, name="boat")
        assert collect_labels().labels == []  # suggested by one person: not a label

        add_tag(photo=photo, user=carol, name="boat")

        assert [(lb.tag, lb.positive) for lb in collect_labels().labels] == [("boat", True)]

    def test_people_who_disagree_with_everyone_are_left_out(
        self, alice: User, bob: User, carol: User, make_user: Any
    ) -> None:
        dave = make_user("dave")
        for n in range(4):  # dave confirms what everyone else rejects, on other people's photos
            photo = bare_photo(alice, n)
            model_tag(photo, f"wrong{n}")
            vote(photo=photo, user=dave, name=f"wrong{n}", value="confirm")
            vote(photo=photo, user=alice, name=f"wrong{n}", value="reject")
        photo = bare_photo(alice, 99)
        model_tag(photo, "cat")
        vote(photo=photo, user=dave, name="cat", value="confirm")

        assert user_trust()[dave.pk] == pytest.approx(2 / 7)  # 1 of 5 votes agrees: (1 + 1) / (5 + 2)
        assert "cat" not in {label.tag for label in collect_labels().labels}
        vote(photo=photo, user=carol, name="cat", value="confirm")  # an unknown, neutral person
        assert "cat" in {label.tag for label in collect_labels().labels}

    def test_the_vocabulary_holds_tags_with_enough_photos_and_lists_the_close_ones(
        self, alice: User, settings: Any
    ) -> None:
        settings.MIN_PHOTOS_PER_TAG = 3
        for n in range(3):
            add_tag(photo=with_embedding(bare_photo(alice, n), np.ones(1280)), user=alice, name="dog")
        add_tag(photo=bare_photo(alice, 9), user=alice, name="cat")

        assert client_for(None).get("/api/training/vocabulary/").status_code == 401
        response = client_for(alice).get("/api/training/vocabulary/").json()

        assert response["vocabulary"] == ["dog"]
        assert response["close"] == [{"tag": "cat", "photos": 1, "needed": 2}]

    def test_near_duplicates_always_fall_in_the_same_fold(self, alice: User, settings: Any) -> None:
        settings.MIN_PHOTOS_PER_TAG = 1
        settings.TRAIN_FOLDS = 2
        rng = np.random.default_rng(1)
        for n in range(20):
            base = rng.normal(0, 1, 1280)
            for copy in range(2):
                photo = with_embedding(bare_photo(alice, 100 * n + copy), base + rng.normal(0, 0.01, 1280))
                add_tag(photo=photo, user=alice, name="thing")

        data = build_training_data(collect_labels(), "efficientnet_lite0")

        pairs = data.folds.reshape(20, 2)
        assert (pairs[:, 0] == pairs[:, 1]).all()
        assert set(data.folds) == {0, 1}

    def test_the_split_keeps_together_photos_linked_when_they_were_embedded(
        self, alice: User, settings: Any
    ) -> None:
        settings.MIN_PHOTOS_PER_TAG = 1
        settings.TRAIN_FOLDS = 2
        rng = np.random.default_rng(2)
        pairs = []
        for n in range(20):
            first, second = (
                with_embedding(bare_photo(alice, 100 * n + c), rng.normal(0, 1, 1280)) for c in range(2)
            )
            add_tag(photo=first, user=alice, name="thing")
            add_tag(photo=second, user=alice, name="thing")
            pairs.append((first.pk, second.pk))
        # As the worker stores them: the second's nearest photo is the first, close enough to be a
        # copy; the first was embedded alone. Their own vectors are unrelated: only the link joins.
        for a, b in pairs:
            PhotoEmbedding.objects.filter(photo_id=b).update(nearest_photo_id=a, nearest_cosine=0.95)
            PhotoEmbedding.objects.filter(photo_id=a).update(nearest_photo_id=b, nearest_cosine=0.01)

        data = build_training_data(collect_labels(), "efficientnet_lite0")

        fold = dict(zip(data.photo_ids, data.folds.tolist(), strict=True))
        assert all(fold[a] == fold[b] for a, b in pairs)
        assert set(data.folds) == {0, 1}


class TestMetricsAndGate:
    def test_average_precision_ranks_positives(self) -> None:
        assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1])) == pytest.approx(
            (1 + 2 / 3) / 2
        )
        assert average_precision(np.array([0.1]), np.array([0])) is None

    def test_thresholds_are_chosen_per_tag_on_validation_data(self) -> None:
        scores = np.array([[0.9, 0.3], [0.8, 0.35], [0.2, 0.1], [0.1, 0.05]])
        labels = np.array([[1, 1], [1, 1], [0, 0], [0, 0]])

        thresholds = choose_thresholds(scores, labels)
        metrics = evaluate(scores, labels, thresholds, ["a", "b"])

        assert thresholds[0] <= 0.8 and thresholds[1] <= 0.3
        assert metrics["macro_f1"] == 1.0 and metrics["map"] == 1.0
        assert metrics["per_tag"]["a"]["support"] == 2


@pytest.fixture
def models(shared_fs: Path) -> Path:
    folder = shared_fs / "models"
    ensure_active_model(folder)
    return folder


@pytest.fixture
def trainable(settings: Any, models: Path) -> None:
    settings.MIN_PHOTOS_PER_TAG = 4
    settings.TRAIN_MAX_EPOCHS = 60


def run_now(trigger: str = "command") -> TrainingRun:
    run = runs.start_run(trigger=trigger, enqueue=False)
    claimed = runs.claim_run(run.pk)
    assert claimed is not None
    return execute_run(claimed)


class TestRuns:
    def test_a_run_trains_gates_publishes_and_activates_a_first_model(
        self, alice: User, trainable: None, models: Path
    ) -> None:
        separable_photos(alice, per_kind=12)

        run = run_now()

        assert run.status == "succeeded", run.error
        assert run.model_version == 1 and bundle.current_version(models) == 1
        assert run.metrics["map"] > 0.9 and run.metrics["top1_accuracy"] > 0.9
        assert len(run.curves) == run.metrics["epochs"] and all("loss" in point for point in run.curves)
        assert {"map", "micro_f1", "macro_f1"} <= set(run.curves[-1]) and run.metrics["converged"]
        manifest = bundle.verify(models, 1)
        assert manifest.tags == sorted(KINDS) and manifest.parent_version == 0
        assert manifest.dataset_fingerprint == run.dataset_fingerprint
        assert ModelVersion.objects.get(version=1).status == "active"
        assert ModelVersion.objects.get(version=0).status == "retired"

    def test_a_candidate_trained_on_shuffled_labels_is_rejected_and_kept(
        self, alice: User, trainable: None, models: Path, settings: Any
    ) -> None:
        settings.TRAIN_MIN_FIRST_MAP = 0.8
        separable_photos(alice, per_kind=12, shuffle=True)

        run = run_now()

        assert run.status == "rejected"
        assert "does not reach the minimum" in run.error
        assert bundle.current_version(models) == 0  # the active model stays
        assert run.model_version is not None
        rejected = ModelVersion.objects.get(version=run.model_version)
        assert rejected.status == "rejected" and "does not reach the minimum" in rejected.reason
        gate = bundle.verify(models, rejected.version).gate
        assert gate is not None and gate["accepted"] is False

    def test_a_tag_that_cannot_be_learnt_is_held_back_and_the_model_goes_live_without_it(
        self, alice: User, trainable: None, models: Path
    ) -> None:
        photos = separable_photos(alice, per_kind=12)
        for row in np.random.default_rng(4).choice(len(photos), size=12, replace=False):  # no pattern
            add_tag(photo=photos[row], user=alice, name="noise")

        run = run_now()

        assert run.status == "succeeded", run.error
        assert "noise" in run.metrics["gate"]["held_back"]
        assert bundle.verify(models, 1).tags == sorted(KINDS)
        assert ModelVersion.objects.get(version=1).tags == sorted(KINDS)
        assert "noise" in run.metrics["per_tag"]  # trained and reported, not published

    def test_a_first_model_judged_on_too_few_photos_is_not_activated(
        self, alice: User, trainable: None, models: Path, settings: Any
    ) -> None:
        settings.MIN_PHOTOS_PER_TAG = 2
        separable_photos(alice, per_kind=2)  # the 5-photo case that once activated "mAP 1.000"

        run = run_now()

        assert run.status == "rejected" and bundle.current_version(models) == 0
        assert "no tag has 5 validation photos" in run.error
        assert run.metrics["gate"]["too_little_support"] == {kind: 2 for kind in KINDS}

    def test_an_unchanged_dataset_skips_the_run(self, alice: User, trainable: None) -> None:
        separable_photos(alice, per_kind=12)
        assert run_now().status == "succeeded"

        again = run_now()

        assert again.status == "skipped"
        assert "has not changed" in again.error

    def test_without_enough_labels_the_run_is_skipped_with_the_closest_tags(
        self, alice: User, trainable: None
    ) -> None:
        separable_photos(alice, per_kind=2)

        run = run_now()

        assert run.status == "skipped"
        assert "No tag has 4 vouched-for photos yet" in run.error and "red (2)" in run.error

    def test_two_triggers_at_once_make_one_run(self, make_user: Any) -> None:
        staff = make_user("boss", staff=True)
        answers = [client_for(staff).post("/api/training-runs/").status_code for _ in range(2)]

        assert sorted(answers) == [202, 409]
        assert TrainingRun.objects.count() == 1
        busy = client_for(staff).post("/api/training-runs/").json()
        assert busy["run_id"] == TrainingRun.objects.get().pk

    def test_a_dead_trainers_run_is_failed_and_its_staging_folder_removed(self, models: Path) -> None:
        run = runs.start_run(trigger="api", enqueue=False)
        runs.claim_run(run.pk)
        (models / ".tmp-7-abc").mkdir()

        runs.fail_dead_runs(reason="The trainer stopped.")
        runs.clean_staging()

        run.refresh_from_db()
        assert (run.status, run.error) == ("failed", "The trainer stopped.")
        assert not (models / ".tmp-7-abc").exists() and bundle.list_versions(models) == [0]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_start_requests_from_two_threads_make_one_run() -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def trigger() -> None:
        try:
            barrier.wait()
            runs.start_run(trigger="api", enqueue=False)
            outcomes.append("started")
        except runs.RunInProgress:
            outcomes.append("busy")
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["busy", "started"]
    assert TrainingRun.objects.count() == 1


class TestRegistryApi:
    def test_staff_roll_back_and_everyone_else_is_refused(
        self, alice: User, trainable: None, models: Path, make_user: Any
    ) -> None:
        separable_photos(alice, per_kind=12)
        run_now()
        staff = make_user("boss", staff=True)

        assert client_for(alice).post("/api/models/0/activate/").status_code == 403
        assert APIClient().post("/api/models/0/activate/").status_code == 401
        response = client_for(staff).post("/api/models/0/activate/")

        assert response.status_code == 200 and response.json()["status"] == "active"
        assert bundle.current_version(models) == 0
        listed = {m["version"]: m["status"] for m in client_for(None).get("/api/models/").json()}
        assert listed == {0: "active", 1: "retired"}
        assert client_for(staff).post("/api/models/42/activate/").status_code == 404

    def test_a_broken_bundle_cannot_be_activated(
        self, alice: User, trainable: None, models: Path, make_user: Any
    ) -> None:
        separable_photos(alice, per_kind=12)
        run_now()
        client_for(make_user("boss", staff=True)).post("/api/models/0/activate/")
        head = bundle.bundle_dir(models, 1) / HEAD_FILE
        head.write_bytes(head.read_bytes()[:-8] + b"garbage!")

        response = client_for(User.objects.get(username="boss")).post("/api/models/1/activate/")

        assert response.status_code == 400 and "damaged" in response.json()["detail"]
        assert bundle.current_version(models) == 0

    def test_only_staff_start_or_read_runs(self, alice: User, make_user: Any) -> None:
        assert client_for(alice).post("/api/training-runs/").status_code == 403
        assert client_for(alice).get("/api/training-runs/").status_code == 403
        assert client_for(None).get("/api/training-runs/").status_code == 401
        assert client_for(make_user("boss", staff=True)).get("/api/training-runs/").status_code == 200


def test_rejections_by_people_without_trust_are_ignored_too(alice: User, make_user: Any) -> None:
    troll = make_user("troll")
    for n in range(4):
        photo = bare_photo(alice, n)
        model_tag(photo, f"good{n}")
        vote(photo=photo, user=alice, name=f"good{n}", value="confirm")
        vote(photo=photo, user=troll, name=f"good{n}", value="reject")
    photo = bare_photo(alice, 50)
    model_tag(photo, "dog")
    vote(photo=photo, user=troll, name="dog", value="reject")

    assert PhotoTag.objects.get(tag__name="dog").state == "rejected"
    assert "dog" not in {label.tag for label in collect_labels().labels}
    assert TagVote.objects.filter(user=troll).count() == 5


def test_the_semi_supervised_step_adds_confident_unlabelled_photos_to_training_only(
    alice: User, trainable: None, models: Path, settings: Any
) -> None:
    separable_photos(alice, per_kind=12)
    first = run_now()
    assert (
        first.status == "succeeded" and first.metrics["pseudo_labelled_photos"] == 0
    )  # off: no teacher used
    rng = np.random.default_rng(0)  # the same centres as separable_photos(seed=0)
    centres = {kind: rng.normal(0, 1, 1280) for kind in KINDS}
    for n in range(9):  # photos nobody tagged, close to the kinds
        with_embedding(bare_photo(alice, 50_000 + n), centres[KINDS[n % 3]] + rng.normal(0, 1, 1280))
    add_tag(photo=with_embedding(bare_photo(alice, 60_000), centres["red"]), user=alice, name="red")
    settings.TRAIN_SEMI_SUPERVISED = True

    run = run_now()

    assert run.status in {"succeeded", "rejected"}, run.error
    # Only photos the teacher is confident about (score >= 0.9) join; never more than exist.
    assert 1 <= run.metrics["pseudo_labelled_photos"] <= 9
