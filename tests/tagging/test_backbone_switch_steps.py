"""The steps of a backbone switch on their own (api/tagging/backbone_switch.py), on PostgreSQL with
real photo files and the real Lite1 backbone: uploads first, an unreadable photo passed over, and
training moves to the new backbone only when coverage allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from api import volume
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging import backbone_switch
from api.tagging.models import PhotoEmbedding
from tests.helpers.images import image_bytes
from trainer import bundle
from trainer.day_zero import ensure_active_model

pytestmark = pytest.mark.django_db
NEW = "efficientnet_lite1"


@pytest.fixture
def site_on_lite0(shared_fs: Path, settings: Any, alice: User) -> list[Photo]:
    """A site whose day-zero model stands on Lite0, with four tagged photos, switching to Lite1."""
    cache.clear()
    ensure_active_model(shared_fs / "models", "efficientnet_lite0")
    photos = [upload_photo(owner=alice, data=image_bytes(color=(40 + 50 * n, 40, 40))) for n in range(4)]
    Photo.objects.filter(pk__in=[p.pk for p in photos]).update(status="tagged", model_version=0)
    settings.TAGGER_BACKBONE = NEW
    settings.TRAIN_SWITCH_COVERAGE = 0.75
    return photos


def test_no_switch_while_the_setting_names_the_serving_backbone(shared_fs: Path, settings: Any) -> None:
    ensure_active_model(shared_fs / "models", "efficientnet_lite0")
    settings.TAGGER_BACKBONE = "efficientnet_lite0"

    assert backbone_switch.status() is None
    assert backbone_switch.embed_next(batch=8) == backbone_switch.Step(0, more=False)
    assert backbone_switch.training_backbone() == "efficientnet_lite0"


def test_photos_waiting_to_be_tagged_go_before_the_switch(site_on_lite0: list[Photo]) -> None:
    Photo.objects.filter(pk=site_on_lite0[0].pk).update(status="pending")

    step = backbone_switch.embed_next(batch=8)

    assert step.wait > 0 and step.more and step.embedded == 0
    assert not PhotoEmbedding.objects.filter(backbone=NEW).exists()


def test_an_unreadable_photo_is_passed_over_and_training_moves_when_coverage_allows(
    site_on_lite0: list[Photo], shared_fs: Path
) -> None:
    first, broken, *rest = site_on_lite0
    volume.original_path(broken.content_hash, broken.file_ext).write_bytes(b"not a photo")
    assert backbone_switch.training_backbone() == "efficientnet_lite0"  # nothing embedded yet
    assert backbone_switch.embed_next(batch=2).wait > 0  # the trainer has not published day zero yet

    day_zero = backbone_switch.ensure_day_zero(NEW)  # the trainer's part

    assert day_zero == 1 and bundle.read_manifest(shared_fs / "models", day_zero).embedding_space == NEW
    assert bundle.current_version(shared_fs / "models") == 0  # the serving model is untouched
    assert backbone_switch.embed_next(batch=2) == backbone_switch.Step(1, more=True)  # first, broken
    assert backbone_switch.embed_next(batch=2) == backbone_switch.Step(2, more=True)  # the rest
    assert backbone_switch.embed_next(batch=2) == backbone_switch.Step(0, more=False)  # the pass ends
    status = backbone_switch.status()
    assert status is not None and (status.embedded, status.backlog, status.coverage) == (3, 1, 0.75)
    embedded = set(PhotoEmbedding.objects.filter(backbone=NEW).values_list("photo_id", flat=True))
    assert embedded == {first.pk, *(p.pk for p in rest)}
    assert PhotoEmbedding.objects.filter(backbone="efficientnet_lite0").count() == 0  # nothing else touched
    assert backbone_switch.training_backbone() == NEW
    # The sweep's next pass tries the broken photo once more, and ends: no loop over it.
    assert backbone_switch.embed_next(batch=2) == backbone_switch.Step(0, more=False)


def test_a_photo_deleted_while_its_batch_is_embedded_costs_the_others_nothing(
    site_on_lite0: list[Photo], monkeypatch: pytest.MonkeyPatch
) -> None:
    backbone_switch.ensure_day_zero(NEW)
    gone = site_on_lite0[1]
    real = backbone_switch._tagger

    def deleting_meanwhile(version: int) -> Any:
        tagger = real(version)

        class Deleting:
            device = tagger.device

            def predict_sources(self, files: list[Path]) -> list[Any]:
                results = tagger.predict_sources(files)
                Photo.objects.filter(pk=gone.pk).delete()  # the owner deletes it mid-batch
                return results

        return Deleting()

    monkeypatch.setattr(backbone_switch, "_tagger", deleting_meanwhile)

    assert backbone_switch.embed_next(batch=8) == backbone_switch.Step(3, more=False)
    assert PhotoEmbedding.objects.filter(backbone=NEW).count() == 3
