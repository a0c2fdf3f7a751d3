"""The open world with real workers on PostgreSQL and Redis: after a retrain, a kind nobody taught
gets no community tag, day zero's suggestions still appear where the community head is not sure,
the preview told the truth about re-tagging, and re-tagging read the stored embeddings; a day-zero
tag people keep rejecting stops being suggested."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from PIL import Image

from api import volume
from api.photos.models import Photo
from api.tagging import suppression
from api.tagging.plan import top_suggestion
from api.tagging.retag import retag_due
from api.tags import counts
from api.tags.models import PhotoTag, TagSource, TagState
from tests.helpers.clients import client_for, upload
from tests.helpers.paths import REPO
from tests.helpers.workers import (
    env_for_test_database,
    module_fs,
    shared_fs,
    tagged,
    tagging_and_training_workers,
    wait_until,
)
from tests.training.test_training_loop import KINDS, finished, photo_of_kind

__all__ = ["module_fs", "shared_fs"]  # fixtures this module uses

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
TRAINING_ENV = {"MIN_PHOTOS_PER_TAG": "4", "TRAIN_MAX_EPOCHS": "80", "TRAIN_NEAR_DUPLICATE_COSINE": "0.999",
                "DAY_ZERO_SUPPRESS_REJECTIONS": "3"}  # fmt: skip
CAT = (REPO / "tests" / "fixtures" / "cat.jpg").read_bytes()
COFFEE = (REPO / "tests" / "fixtures" / "coffee.jpg").read_bytes()


def grey_photo(seed: int) -> bytes:
    """A kind nobody teaches: every channel alike, unlike the red, green and blue photos."""
    rng = np.random.default_rng(10_000 + seed)
    pixels = np.repeat(rng.integers(90, 170, (96, 128, 1), dtype=np.uint8), 3, axis=2)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((256, 192)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def cat_photo(seed: int) -> bytes:
    """The fixture cat, cropped a little differently each time: another file, the same cat."""
    image = Image.open(io.BytesIO(CAT)).convert("RGB")
    width, height = image.size
    out = io.BytesIO()
    image.crop((seed, seed, width - seed, height - seed)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def shown_first() -> dict[int, str | None]:
    """Each tagged photo's first model suggestion, as the site shows it."""
    scores: dict[int, dict[str, float]] = {pk: {} for pk in Photo.objects.values_list("pk", flat=True)}
    suggested = PhotoTag.objects.filter(source=TagSource.MODEL, state=TagState.SUGGESTED)
    for photo_id, name, score in suggested.values_list("photo_id", "tag__name", "score"):
        scores[photo_id][name] = score or 0.0
    return {pk: top_suggestion(names) for pk, names in scores.items()}


def model_tags(photo_id: int) -> dict[str, int | None]:
    rows = PhotoTag.objects.filter(photo_id=photo_id, source=TagSource.MODEL)
    return dict(rows.values_list("tag__name", "model_version"))


@pytest.fixture(scope="module")
def workers(
    module_fs: Path, tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[None]:
    env = env_for_test_database(module_fs, **TRAINING_ENV)
    with tagging_and_training_workers(env, tmp_path_factory.mktemp("logs")):
        yield


def test_after_a_retrain_untaught_kinds_get_no_community_tag_and_day_zero_fills_in(
    workers: None, shared_fs: Path, alice: User, make_user: Any
) -> None:
    staff = make_user("boss", staff=True)
    owner = client_for(alice)
    taught = [upload(owner, photo_of_kind(kind, seed), f"{kind}{seed}.jpg", tags=kind).json()["id"]
              for seed in range(8) for kind in KINDS]  # fmt: skip
    untagged = {upload(owner, photo_of_kind(kind, 300 + seed), f"{kind}-{seed}.jpg").json()["id"]: kind
                for seed in range(2) for kind in KINDS}  # fmt: skip
    greys = [upload(owner, grey_photo(seed), f"grey{seed}.jpg").json()["id"] for seed in range(12)]
    cat = upload(owner, cat_photo(0), "cat.jpg").json()["id"]
    everything = [*taught, *untagged, *greys, cat]
    wait_until(lambda: Photo.objects.filter(pk__in=everything, status="tagged").count() == len(everything),
               120, "day zero to tag every upload")  # fmt: skip
    day_zero_on_the_cat = model_tags(cat)
    assert day_zero_on_the_cat and set(day_zero_on_the_cat.values()) == {0}
    before = shown_first()
    # The greys' files go: re-tagging them must read their stored embeddings, not their pixels.
    for photo in Photo.objects.filter(pk__in=greys):
        volume.original_path(photo.content_hash, photo.file_ext).unlink()

    run = finished(client_for(staff).post("/api/training-runs/").json()["id"], staff)

    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["background_photos"] > 0 and run["metrics"]["gate"]["candidate_map"]["low"] > 0.5
    wait_until(
        lambda: not retag_due(run["model_version"]).exists(), 120, "the new version to re-tag the library"
    )
    after = shown_first()
    # The preview, computed before activation from stored embeddings, is what re-tagging did.
    changed = {"gain": 0, "lose": 0, "change": 0}
    for pk in everything:
        if before[pk] != after[pk]:
            changed["gain" if before[pk] is None else "lose" if after[pk] is None else "change"] += 1
    preview = run["metrics"]["preview"]
    assert {kind: preview[kind] for kind in changed} == changed and preview["photos"] == len(everything)
    assert {pk: after[pk] for pk in untagged} == untagged  # so the counts are not all zero
    assert (
        Photo.objects.filter(pk__in=greys, status="tagged", model_version=run["model_version"]).count() == 12
    )
    # The untaught kind gets none of the community's tags: in the library, nor on a fresh photo.
    assert not {name for pk in greys for name in model_tags(pk)} & set(KINDS)
    fresh = upload(owner, grey_photo(99), "grey-new.jpg").json()["id"]
    red = upload(owner, photo_of_kind("reds", 500), "red-new.jpg").json()["id"]
    coffee = upload(owner, COFFEE, "coffee.jpg").json()["id"]
    for pk in (fresh, red, coffee):
        wait_until(tagged(pk, run["model_version"]), what=f"new photo {pk} tagged by the new version")
    assert not set(model_tags(fresh)) & set(KINDS)
    # Day zero's suggestions survive on the photo the community head is not sure about, and a new
    # one, which went through the backbone, gets them from the same pass.
    assert model_tags(cat) == day_zero_on_the_cat
    assert model_tags(coffee).get("espresso") == 0 and set(model_tags(coffee).values()) == {0}
    # And a taught kind still gets its own tag first.
    first = PhotoTag.objects.filter(photo_id=red, source="model").order_by("-score").first()
    assert first is not None and first.tag.name == "reds" and first.model_version == run["model_version"]


def test_a_day_zero_tag_people_keep_rejecting_is_no_longer_suggested(
    workers: None, shared_fs: Path, alice: User, settings: Any
) -> None:
    settings.DAY_ZERO_SUPPRESS_REJECTIONS = 3  # as the workers have it
    owner = client_for(alice)
    cats = [upload(owner, cat_photo(seed), f"cat{seed}.jpg").json()["id"] for seed in range(1, 4)]
    wait_until(
        lambda: Photo.objects.filter(pk__in=cats, status="tagged").count() == 3, 60, "day zero on the cats"
    )
    on_every_cat = set.intersection(*(set(model_tags(pk)) for pk in cats))
    guess = max(
        on_every_cat, key=lambda name: PhotoTag.objects.get(photo_id=cats[0], tag__name=name).score or 0
    )
    for photo_id in cats:
        response = owner.post(f"/api/photos/{photo_id}/tags/{guess}/reject/")
        assert response.status_code in {200, 201}, response.content

    counts.refresh()  # what beat does every TAG_COUNTS_SECONDS
    assert [s.tag for s in suppression.suppressed()] == [guess]
    another = upload(owner, cat_photo(7), "cat7.jpg").json()["id"]
    wait_until(tagged(another), what="a new cat photo tagged")
    assert model_tags(another) and guess not in model_tags(another)
