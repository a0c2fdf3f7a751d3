"""TAGGER_BACKBONE: the backbone a new site's day-zero model stands on, and what a running site
says when the setting names another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.tagging.runtime import ModelRuntime
from api.tagging.selectors import active_model
from trainer import bundle

pytestmark = pytest.mark.django_db


def test_a_new_site_publishes_its_day_zero_model_on_the_configured_backbone(
    shared_fs: Path, settings: Any
) -> None:
    settings.TAGGER_BACKBONE = "efficientnet_lite2"

    tagger = ModelRuntime().current()

    assert tagger.version == 0 and tagger.backbone_id == "efficientnet_lite2"
    assert bundle.read_manifest(shared_fs / "models", 0).preprocessing.crop == 260
    assert active_model()["backbone_note"] == ""


def test_a_running_site_keeps_serving_its_backbone_and_says_a_switch_is_under_way(
    shared_fs: Path, settings: Any
) -> None:
    ModelRuntime().current()  # the site started on Lite0
    settings.TAGGER_BACKBONE = "efficientnet_lite2"

    assert ModelRuntime().current().backbone_id == "efficientnet_lite0"
    note = active_model()["backbone_note"]
    assert "TAGGER_BACKBONE names efficientnet_lite2" in note and "stands on efficientnet_lite0" in note
    assert "keeps serving" in note
