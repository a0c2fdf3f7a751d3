"""The staff dashboard's parts, one at a time: retrying failed photos, the sortable per-tag table,
the confirmation before a version is switched, the live run panel, operations (activity, workers,
GPUs) and the training schedule."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.photos import activity
from api.photos.models import ActivityMinute, Photo
from api.photos.services import update_photo, upload_photo
from api.tagging.models import WorkerStatus
from api.tagging.selectors import activity_chart, throughput
from api.tagging.services import retry_failed_photos
from api.tags import counts
from api.tags.models import PhotoTag, Tag
from api.tags.services import add_tag, vote
from api.training.models import ModelVersion, TrainingRun
from api.training.selectors import next_vocabulary, per_tag_quality, refresh_vocabulary
from api.training.tasks import check_schedule
from tests.helpers.images import image_bytes
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db

PER_TAG: dict[str, dict[str, Any]] = {
    "beach": {"precision": 0.9, "recall": 0.6, "f1": 0.72, "support": 14, "threshold": 0.45, "ap": 0.81},
    "dog": {"precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 30, "threshold": 0.5, "ap": 0.97},
    "snow": {"precision": 0.5, "recall": 0.2, "f1": 0.29, "support": 5, "threshold": 0.7, "ap": None},
}


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user("boss", staff=True))
    return client


@pytest.fixture
def versions() -> tuple[ModelVersion, ModelVersion]:
    """Version 0 without per-tag metrics (the day-zero model), version 1 active and measured."""
    day_zero = ModelVersion.objects.create(
        version=0, status="retired", backbone="efficientnet_lite0", tags=["tabby"]
    )
    trained = ModelVersion.objects.create(
        version=1, status="active", backbone="efficientnet_lite0", tags=list(PER_TAG),
        metrics={"map": 0.83, "macro_f1": 0.65, "per_tag": PER_TAG}, reason="mAP 0.830 on 3 tags",
        activated_at=timezone.now(),
    )  # fmt: skip
    return day_zero, trained


def failed_photo(owner: User, n: int, reason: str = "cannot identify image file") -> Photo:
    photo = bare_photo(owner, n)
    Photo.objects.filter(pk=photo.pk).update(status="failed", status_reason=reason, model_version=None)
    return photo


def table_tags(html: str) -> list[str]:
    body = html.split('<table class="data quality">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="tagname">#([\w-]+)</td>', body)


# ---------------------------------------------------------------- retrying failed photos


class TestRetryingFailedPhotos:
    def test_given_failed_photos_when_staff_retries_all_they_are_pending_again_and_a_worker_is_woken(
        self, alice: User, make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
    ) -> None:
        boss = make_user("boss", staff=True)
        photos = [failed_photo(alice, n) for n in range(3)]
        fine = bare_photo(alice, 99)

        with django_capture_on_commit_callbacks() as wake_ups:
            retried = retry_failed_photos(user=boss)

        assert retried == 3 and len(wake_ups) == 1
        for photo in photos:
            photo.refresh_from_db()
            assert (photo.status, photo.status_reason, photo.claimed_by) == ("pending", "", "")
        fine.refresh_from_db()
        assert fine.status == "tagged"

    def test_when_retried_twice_the_second_time_changes_nothing_and_wakes_nobody(
        self, alice: User, make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
    ) -> None:
        boss = make_user("boss", staff=True)
        photo = failed_photo(alice, 1)
        retry_failed_photos(user=boss, photo_ids=[photo.pk])

        with django_capture_on_commit_callbacks() as wake_ups:
            again = retry_failed_photos(user=boss, photo_ids=[photo.pk])

        assert again == 0 and wake_ups == []
        assert Photo.objects.get(pk=photo.pk).status == "pending"

    def test_given_one_id_only_that_photo_is_retried(
        self, alice: User, make_user: Callable[..., User]
    ) -> None:
        first, second = failed_photo(alice, 1), failed_photo(alice, 2)

        assert retry_failed_photos(user=make_user("boss", staff=True), photo_ids=[second.pk]) == 1

        assert Photo.objects.get(pk=first.pk).status == "failed"
        assert Photo.objects.get(pk=second.pk).status == "pending"

    def test_a_member_who_is_not_staff_is_refused_and_nothing_changes(self, alice: User, bob: User) -> None:
        photo = failed_photo(alice, 1)

        with pytest.raises(PermissionDenied):
            retry_failed_photos(user=bob)
        with pytest.raises(PermissionDenied):
            retry_failed_photos(user=alice, photo_ids=[photo.pk])  # not even the owner

        assert Photo.objects.get(pk=photo.pk).status == "failed"

    def test_the_dashboard_lists_failed_photos_with_reasons_and_its_button_retries_one(
        self, alice: User, staff: Client
    ) -> None:
        photo = failed_photo(alice, 1, reason="Truncated file: the image ends early")

        page = staff.get("/staff/").content.decode()
        assert "Failed photos (1)" in page and "Truncated file: the image ends early" in page
        assert f'name="photo" value="{photo.pk}"' in page

        answer = staff.post("/staff/failed/retry/", {"photo": str(photo.pk)}, follow=True)

        assert "1 photo went back to the tagging queue." in answer.content.decode()
        assert Photo.objects.get(pk=photo.pk).status == "pending"

    def test_a_photo_id_that_is_not_a_number_gets_400_with_a_reason_and_changes_nothing(
        self, alice: User, staff: Client
    ) -> None:
        photo = failed_photo(alice, 1)

        answer = staff.post("/staff/failed/retry/", {"photo": "all of them"})

        assert answer.status_code == 400 and b"is not a photo id" in answer.content
        assert Photo.objects.get(pk=photo.pk).status == "failed"

    def test_members_cannot_reach_the_retry_button(self, alice: User) -> None:
        photo = failed_photo(alice, 1)
        member = Client()
        member.force_login(alice)

        answer = member.post("/staff/failed/retry/", {"photo": str(photo.pk)})

        assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
        assert Photo.objects.get(pk=photo.pk).status == "failed"


# ---------------------------------------------------------------- per-tag quality


class TestPerTagQuality:
    def test_by_default_the_best_f1_comes_first(self, versions: Any) -> None:
        rows = per_tag_quality(versions[1])

        assert rows is not None and [r["tag"] for r in rows] == ["dog", "beach", "snow"]
        assert rows[0] == {"tag": "dog", **PER_TAG["dog"]}

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ("support", ["snow", "beach", "dog"]),
            ("-threshold", ["snow", "dog", "beach"]),
            ("-tag", ["snow", "dog", "beach"]),
            ("precision", ["snow", "beach", "dog"]),
            ("-ap", ["dog", "beach", "snow"]),  # snow has no AP: last
            ("ap", ["beach", "dog", "snow"]),  # ...either way
        ],
    )
    def test_the_table_sorts_by_the_column_asked_for(
        self, versions: Any, staff: Client, sort: str, expected: list[str]
    ) -> None:
        fragment = staff.get("/staff/quality/", {"sort": sort})
        page = staff.get("/staff/", {"sort": sort})

        assert fragment.status_code == 200 and table_tags(fragment.content.decode()) == expected
        assert table_tags(page.content.decode()) == expected

    def test_a_sorted_column_header_flips_the_order_and_others_start_from_the_top(
        self, versions: Any, staff: Client
    ) -> None:
        html = staff.get("/staff/quality/", {"sort": "-f1"}).content.decode()

        assert 'aria-sort="descending"><a href="/staff/?sort=f1#quality"' in html
        assert 'hx-get="/staff/quality/?sort=-recall"' in html
        assert 'hx-get="/staff/quality/?sort=tag"' in html

    def test_an_unknown_column_gets_400_saying_which_columns_exist(
        self, versions: Any, staff: Client
    ) -> None:
        for url in ("/staff/quality/", "/staff/"):
            answer = staff.get(url, {"sort": "colour"})
            assert answer.status_code == 400
            assert b"cannot be sorted by 'colour'" in answer.content and b"precision" in answer.content

    def test_a_version_without_per_tag_metrics_says_not_measured(self, versions: Any, staff: Client) -> None:
        ModelVersion.objects.filter(version=1).update(status="retired")
        ModelVersion.objects.filter(version=0).update(status="active")

        html = staff.get("/staff/").content.decode()

        assert per_tag_quality(versions[0]) is None
        assert "Per-tag quality of v0" in html and "Not measured: version 0 has no per-tag" in html


# ---------------------------------------------------------------- versions and runs


def test_activating_asks_for_confirmation_first_and_the_question_changes_nothing(
    versions: Any, staff: Client
) -> None:
    page = staff.get("/staff/").content.decode()
    assert 'href="/staff/models/0/activate/">Roll back</a>' in page

    question = staff.get("/staff/models/0/activate/").content.decode()

    assert "Roll back to version 0?" in question and "Yes, roll back to v0" in question
    assert ModelVersion.objects.get(version=1).status == "active"
    assert staff.get("/staff/models/7/activate/").status_code == 404


def test_a_running_run_polls_with_its_curves_and_a_finished_one_reloads_the_page(
    staff: Client, make_user: Callable[..., User]
) -> None:
    curves = [
        {"epoch": e, "loss": 1 / e, "map": 0.5 + e / 40, "macro_f1": 0.4 + e / 50} for e in range(1, 11)
    ]
    run = TrainingRun.objects.create(
        trigger="dashboard", status="running", phase="training", epoch=10, total_epochs=60, progress=0.23,
        curves=curves,
    )  # fmt: skip

    polling = staff.get(f"/staff/runs/{run.pk}/", HTTP_HX_REQUEST="true")

    html = polling.content.decode()
    assert 'hx-trigger="every 1s"' in html and "epoch 10 of 60" in html and "23%" in html
    assert html.count("<svg") == 2 and "loss 0.1" in html and "mAP 0.75" in html
    assert "HX-Refresh" not in polling

    TrainingRun.objects.filter(pk=run.pk).update(
        status="succeeded", progress=1.0, phase="done", model_version=1
    )
    done = staff.get(f"/staff/runs/{run.pk}/", HTTP_HX_REQUEST="true")

    assert done["HX-Refresh"] == "true"
    assert 'hx-trigger="every 1s"' not in done.content.decode() and "100%" in done.content.decode()


# ---------------------------------------------------------------- operations


def test_a_run_stopped_by_the_time_limit_says_it_did_not_converge_and_a_converged_one_does_not(
    staff: Client,
) -> None:
    stopped = TrainingRun.objects.create(
        trigger="dashboard", status="succeeded", phase="done", model_version=1, progress=1.0,
        metrics={"map": 0.8, "macro_f1": 0.7, "epochs": 40, "converged": False},
    )  # fmt: skip
    finished = TrainingRun.objects.create(
        trigger="dashboard", status="succeeded", phase="done", model_version=2, progress=1.0,
        metrics={"map": 0.8, "macro_f1": 0.7, "epochs": 40, "converged": True},
    )  # fmt: skip

    def shown(run: TrainingRun) -> str:
        return staff.get(f"/staff/runs/{run.pk}/").content.decode()

    assert "after 40 epochs, stopped by the training time limit before it converged" in shown(stopped)
    assert "time limit" not in shown(finished) and "after 40 epochs" in shown(finished)


def test_activity_counts_uploads_and_tagging_per_whole_minute_over_the_last_hour() -> None:
    now = timezone.now().replace(second=30)
    activity.count(tagged=2, at=now - timedelta(minutes=2))
    activity.count(tagged=1, uploaded=4, at=now - timedelta(minutes=2, seconds=20))  # same minute: adds
    activity.count(tagged=5, at=now)  # the minute under way
    activity.count(uploaded=7, at=now - timedelta(hours=2))

    per_minute = activity_chart(minutes=60, now=now + timedelta(seconds=10))

    assert len(per_minute["tagged"]) == len(per_minute["uploaded"]) == 60
    # The minute under way is not counted yet; two hours ago is out of range.
    assert per_minute["tagged"][-2] == 3 and sum(per_minute["tagged"]) == 3
    assert per_minute["uploaded"][-2] == 4 and sum(per_minute["uploaded"]) == 4


def test_activity_starts_from_the_photos_own_timestamps_when_counted_afresh(alice: User) -> None:
    now = timezone.now().replace(second=30)
    photos = [bare_photo(alice, n) for n in range(5)]
    ActivityMinute.objects.all().delete()
    Photo.objects.update(created_at=now - timedelta(minutes=1))
    Photo.objects.filter(pk__in=[p.pk for p in photos[:3]]).update(tagged_at=now - timedelta(minutes=2))
    Photo.objects.filter(pk=photos[3].pk).update(tagged_at=now, created_at=now - timedelta(minutes=90))
    Photo.objects.filter(pk=photos[4].pk).update(tagged_at=now - timedelta(days=3))

    activity.count_from_photos(Photo.objects.all(), ActivityMinute, now - activity.KEPT_FOR)

    per_minute = activity_chart(minutes=60, now=now + timedelta(minutes=1))
    assert per_minute["tagged"][-3] == 3 and per_minute["tagged"][-1] == 1 and sum(per_minute["tagged"]) == 4
    assert per_minute["uploaded"][-2] == 4 and sum(per_minute["uploaded"]) == 4


def test_an_upload_counts_in_its_minute_and_old_minutes_are_pruned(alice: User) -> None:
    before = throughput()["uploaded_last_hour"]
    upload_photo(owner=alice, data=image_bytes(color=(41, 1, 1)))
    assert throughput()["uploaded_last_hour"] == before + 1
    activity.count(uploaded=1, at=timezone.now() - activity.KEPT_FOR - timedelta(minutes=5))

    assert activity.prune() == 1
    assert throughput()["uploaded_last_hour"] == before + 1


def test_operations_show_each_worker_with_its_device_gpu_use_and_memory(staff: Client) -> None:
    now = timezone.now()
    gpu = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "utilization_percent": 73, "memory_used_mb": 20480,
           "memory_total_mb": 81559, "temperature_c": 51}  # fmt: skip
    WorkerStatus.objects.create(name="gpu-box:12", device="cuda:0", gpus=[gpu], model_version=3,
                                started_at=now, last_seen=now)  # fmt: skip
    WorkerStatus.objects.create(
        name="old-box:7", device="cpu", started_at=now, last_seen=now - timedelta(hours=2)
    )

    html = staff.get("/staff/operations/").content.decode()

    assert 'hx-trigger="every 15s"' in html
    assert "gpu-box:12" in html and "cuda:0" in html and "NVIDIA H100 80GB HBM3" in html
    assert "73%" in html and "20480 / 81559 MB" in html and "width: 25%" in html  # memory meter
    assert "old-box:7" in html and "gone" in html


def test_the_vocabulary_is_read_as_last_counted_and_the_recount_brings_in_new_labels(
    alice: User, bob: User, settings: Any
) -> None:
    settings.MIN_PHOTOS_PER_TAG = 2
    cache.clear()
    first = bare_photo(alice, 1)
    add_tag(photo=first, user=alice, name="beach")
    assert next_vocabulary() == ([], {"beach": 1})  # nothing on record: this read counts, once

    second = bare_photo(alice, 2)
    suggestion = PhotoTag.objects.create(
        photo=second, tag=Tag.objects.get(name="beach"), source="model", state="suggested", score=0.6
    )
    vote(photo=second, user=bob, name=suggestion.tag.name, value="confirm")
    with CaptureQueriesContext(connection) as reading:
        assert next_vocabulary() == ([], {"beach": 1})
    assert reading.captured_queries == []  # a page never counts

    refresh_vocabulary()

    assert next_vocabulary() == (["beach"], {})


def test_a_photo_made_private_leaves_the_vocabulary_with_the_recount_it_sends(
    alice: User, settings: Any
) -> None:
    settings.MIN_PHOTOS_PER_TAG = 2
    cache.clear()
    photo = bare_photo(alice, 1)
    add_tag(photo=photo, user=alice, name="secret_garden")
    assert next_vocabulary() == ([], {"secret_garden": 1})

    update_photo(photo=photo, visibility="private")  # sends the recount (tests/tags)
    refresh_vocabulary()

    assert next_vocabulary() == ([], {})


def test_the_schedule_check_is_in_beat_and_the_dashboard_shows_its_last_and_next_time(
    staff: Client, settings: Any
) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["training-schedule-check"]
    assert entry["task"] == "api.training.tasks.check_schedule"
    assert entry["schedule"] == settings.TRAIN_CHECK_MINUTES * 60
    cache.clear()
    assert "none recorded yet" in staff.get("/staff/operations/").content.decode()

    settings.TRAIN_MIN_NEW_LABELS = 50
    check_schedule()
    html = staff.get("/staff/operations/").content.decode()

    checked = cache.get("training:last-schedule-check")["at"]
    expected_next = checked + timedelta(minutes=settings.TRAIN_CHECK_MINUTES)
    assert f'<time datetime="{checked.isoformat(timespec="seconds")[:19]}' in html
    assert f'<time datetime="{expected_next.isoformat(timespec="seconds")[:19]}' in html
    assert "Last check said: 0 new labels, waiting for 50." in html


def test_the_dashboard_shows_the_gates_intervals_the_preview_and_the_suppressed_day_zero_tags(
    staff: Client, alice: User, bob: User, settings: Any
) -> None:
    cache.clear()
    settings.DAY_ZERO_SUPPRESS_REJECTIONS = 2
    for n in range(2):  # day zero called two photos "jigsaw puzzle"; people said no both times
        photo = bare_photo(alice, 100 + n)
        PhotoTag.objects.create(photo=photo, tag=Tag.objects.get_or_create(name="jigsaw_puzzle")[0],
                                source="model", state="suggested", score=0.4, model_version=0)  # fmt: skip
        vote(photo=photo, user=alice, name="jigsaw_puzzle", value="reject")
    counts.refresh()
    gate = {"candidate_map": {"value": 0.91, "low": 0.84, "high": 0.97}, "compared_with_active": True,
            "compared_photos": 12, "candidate_map_shared": 0.9, "active_map_shared": 0.88,
            "difference": {"value": 0.02, "low": -0.05, "high": 0.08}, "too_little_support": {"snow": 2},
            "held_back": {"skirt": {"value": 0.41, "low": 0.22, "high": 0.6}}, "min_map": 0.5,
            "photos": 40}  # fmt: skip
    changed = [{"photo": 7, "before": "jean", "after": "pants"}]
    preview = {"photos": 40, "library": 900, "same": 30, "gain": 4, "lose": 2, "change": 4,
               "without_embedding": 0, "examples": {"gain": [], "lose": [], "change": changed}}  # fmt: skip
    metrics = {"map": 0.91, "folds": 5, "photos": 40, "gate": gate, "preview": preview}
    ModelVersion.objects.create(version=1, status="active", backbone="efficientnet_lite0", tags=["pants"],
                                metrics=metrics, activated_at=timezone.now())  # fmt: skip
    TrainingRun.objects.create(trigger="dashboard", status="succeeded", model_version=1,
                               metrics={"map": 0.91, "gate": gate, "preview": preview})  # fmt: skip

    html = staff.get("/staff/").content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))

    assert "95% interval 0.840 to 0.970" in text and "0.840 to 0.970" in text
    assert (
        "on 12 photos it never trained on" in text
        and "difference 0.020, 95% interval -0.050 to 0.080" in text
    )
    assert "Too little support to be scored" in text and "#snow (2)" in text
    assert "not suggested until they reach 0.500" in text and "#skirt AP 0.410 (0.220 to 0.600)" in text
    assert "4 gain a first suggestion, 2 lose theirs, 4 change it, 30 keep it" in text
    assert "Of the newest 40 of 900 tagged photos, re-scored" in text
    assert "#jean becomes #pants" in text
    assert "#jigsaw_puzzle rejected 2, confirmed 0" in text
