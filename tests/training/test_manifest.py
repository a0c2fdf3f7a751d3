"""A bundle's manifest as one typed object: what it writes is what it reads back, bundles written
before the type still load, and a bad manifest is refused with a sentence saying what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer import bundle
from trainer.manifest import (
    BACKBONE_FILE,
    HEAD_FILE,
    BackboneRef,
    BundleError,
    HeadSpec,
    Manifest,
    Preprocessing,
)

# A fine-tuned candidate's manifest as the trainer wrote it before the typed object existed.
WRITTEN_BEFORE = {
    "format_version": 1,
    "version": 3,
    "created_at": "2026-11-20T10:00:00+00:00",
    "backbone": {"id": "efficientnet_lite0", "embedding_dim": 4, "weights": BACKBONE_FILE, "tuned": "v3"},
    "preprocessing": {
        "resize": 256,
        "crop": 224,
        "interpolation": "bicubic",
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    },
    "head": {"kind": "sigmoid", "file": HEAD_FILE},
    "tags": ["beach", "dog"],
    "thresholds": [0.4, 0.6],
    "metrics": {"map": 0.91},
    "dataset_fingerprint": "abc",
    "parent_version": 2,
    "training_run": 7,
    "gate": {"accepted": True, "reason": "better", "candidate_map": 0.91},
    "checksums": {HEAD_FILE: "00", BACKBONE_FILE: "11"},
}


def small_manifest(version: int = 1, *, tuned: str | None = None) -> Manifest:
    return Manifest(
        version=version,
        backbone=BackboneRef(id="efficientnet_lite0", embedding_dim=4, tuned=tuned),
        preprocessing=Preprocessing(),
        head=HeadSpec(kind="sigmoid"),
        tags=["a", "b"],
        thresholds=[0.5, 0.5],
    )


def test_a_manifest_written_before_the_type_reads_and_writes_back_the_same_json() -> None:
    manifest = Manifest.from_dict(WRITTEN_BEFORE)

    assert manifest.embedding_space == "efficientnet_lite0+v3" and manifest.backbone.weights == BACKBONE_FILE
    assert manifest.to_dict() == WRITTEN_BEFORE


def test_the_day_zero_heads_class_map_survives_the_round_trip() -> None:
    data = {
        **WRITTEN_BEFORE,
        "head": {"kind": "softmax_classes", "file": HEAD_FILE, "class_to_tag": [0, 1, 1]},
    }

    assert Manifest.from_dict(data).head.class_to_tag == (0, 1, 1)
    assert Manifest.from_dict(data).to_dict()["head"] == data["head"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"head": {"kind": "softmax"}}, "unknown head kind 'softmax'"),
        ({"thresholds": [0.5]}, "has 2 tags but 1 thresholds"),
        ({"tags": "beach"}, "malformed manifest: TypeError: expected a list"),
        (
            {"preprocessing": {"resize": "big", "crop": 1, "mean": [0, 0, 0], "std": [1, 1, 1]}},
            "malformed manifest",
        ),
        ({"format_version": 2}, "bundle format 2, expected 1"),
    ],
)
def test_a_bad_manifest_is_refused_with_what_is_wrong(change: dict[str, object], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        Manifest.from_dict({**WRITTEN_BEFORE, **change}, version=3)


def test_a_bundle_is_published_with_exactly_the_weights_its_manifest_names(tmp_path: Path) -> None:
    head = {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}

    with pytest.raises(BundleError, match="fine-tuned backbone, but its weights were not given"):
        bundle.publish(tmp_path, small_manifest(1, tuned="v1"), head=head)
    with pytest.raises(BundleError, match="package's backbone weights, yet backbone weights were given"):
        bundle.publish(tmp_path, small_manifest(1), head=head, backbone={"w": torch.zeros(1)})
    assert bundle.list_versions(tmp_path) == []

    bundle.publish(tmp_path, small_manifest(2, tuned="v2"), head=head, backbone={"w": torch.zeros(1)})

    published = bundle.verify(tmp_path, 2)
    assert set(published.checksums) == {HEAD_FILE, BACKBONE_FILE}
    assert json.loads((tmp_path / "2" / "manifest.json").read_text()) == published.to_dict()
    assert bundle.load_backbone_state(tmp_path, published) is not None
