"""A bundle's manifest as one typed object: what it writes is what it reads back, bundles written
before the type still load, and a bad manifest is refused with a sentence saying what is wrong."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.helpers.paths import REPO
from trainer import bundle
from trainer.day_zero import publish_day_zero
from trainer.manifest import (
    BACKBONE_FILE,
    HEAD_FILE,
    BackboneRef,
    BundleError,
    HeadSpec,
    Manifest,
    Preprocessing,
)

# manifest.json files as the code before the typed manifest published them (commit cf3bfa9): day
# zero, a fine-tuned candidate and a rejected trained head.
GOLDEN = REPO / "tests" / "fixtures" / "manifests"
WRITTEN_BEFORE = json.loads((GOLDEN / "fine_tuned.json").read_text())


def golden(name: str) -> dict[str, object]:
    return dict(json.loads((GOLDEN / f"{name}.json").read_text()))


def without_time(data: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in data.items() if key != "created_at"}


def small_manifest(version: int = 1, *, tuned: str | None = None) -> Manifest:
    return Manifest(
        version=version,
        backbone=BackboneRef(id="efficientnet_lite0", embedding_dim=4, tuned=tuned),
        preprocessing=Preprocessing(),
        head=HeadSpec(kind="sigmoid"),
        tags=["a", "b"],
        thresholds=[0.5, 0.5],
    )


@pytest.mark.parametrize("name", ["day_zero", "fine_tuned", "rejected_head"])
def test_a_manifest_written_before_the_type_reads_and_writes_back_the_same_json(name: str) -> None:
    assert Manifest.from_dict(golden(name)).to_dict() == golden(name)


def test_a_fine_tuned_bundle_of_before_is_read_as_its_own_embedding_space() -> None:
    manifest = Manifest.from_dict(WRITTEN_BEFORE)

    assert manifest.embedding_space == "efficientnet_lite0+v3" and manifest.backbone.weights == BACKBONE_FILE


def test_day_zero_is_published_byte_for_byte_as_before_but_for_its_time(tmp_path: Path) -> None:
    publish_day_zero(tmp_path)

    written = json.loads((tmp_path / "0" / "manifest.json").read_text())
    assert without_time(written) == without_time(golden("day_zero"))


def test_trained_candidates_are_published_as_before_but_for_their_time(tmp_path: Path) -> None:
    for name, backbone in (("fine_tuned", {"w": torch.arange(6.0)}), ("rejected_head", None)):
        before = Manifest.from_dict(golden(name))
        again = replace(before, checksums={}, created_at=None)
        bundle.publish(
            tmp_path, again, head={"weight": torch.ones(2, 4), "bias": torch.zeros(2)}, backbone=backbone
        )

        written = json.loads((tmp_path / str(before.version) / "manifest.json").read_text())
        assert without_time(written) == without_time(golden(name)), name


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
        (
            {"backbone": {"id": "efficientnet_lite0", "embedding_dim": 4, "weights": BACKBONE_FILE}},
            "do not match the package's weights",
        ),
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
