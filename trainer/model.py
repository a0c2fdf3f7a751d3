"""The tagger network: a frozen backbone and a multi-label head, as a bundle describes them.

Two head kinds:
- ``softmax_classes``: the day-zero model, the backbone's own ImageNet classifier; class
  probabilities are summed into tags through ``class_to_tag``.
- ``sigmoid``: a trained head, one sigmoid per tag (multi-label).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer import bundle
from trainer.backbones import Backbone, get_backbone

HEAD_FILE = "head.safetensors"
BACKBONE_FILE = "backbone.safetensors"


class TaggerNet(nn.Module):
    def __init__(
        self, backbone: Backbone, head: nn.Linear, kind: str, class_to_tag: list[int] | None, n_tags: int
    ):
        super().__init__()
        if kind not in {"softmax_classes", "sigmoid"}:
            raise bundle.BundleError(f"unknown head kind {kind!r}")
        self.backbone = backbone
        self.head = head
        self.kind = kind
        self.n_tags = n_tags
        index = torch.tensor(class_to_tag if class_to_tag is not None else range(n_tags), dtype=torch.long)
        self.class_to_tag: torch.Tensor
        self.register_buffer("class_to_tag", index, persistent=False)

    def scores_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        logits = self.head(embeddings.float())
        if self.kind == "sigmoid":
            return torch.sigmoid(logits)
        probs = torch.softmax(logits, dim=-1)
        out = torch.zeros(probs.shape[0], self.n_tags, dtype=probs.dtype, device=probs.device)
        return out.index_add_(1, self.class_to_tag, probs)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.backbone.embed(pixels)
        return self.scores_from_embeddings(embeddings), embeddings


def head_from_manifest(manifest: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Linear:
    weight, bias = state["weight"], state["bias"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
    expected = manifest["backbone"].get("embedding_dim")
    if expected and weight.shape[1] != expected:
        raise bundle.BundleError(f"head expects {weight.shape[1]}-d embeddings, backbone gives {expected}")
    return head


def load_net(models_dir: Path, version: int, manifest: dict[str, Any]) -> TaggerNet:
    """Builds the network of a bundle whose ``manifest`` ``bundle.verify`` returned."""
    spec = get_backbone(manifest["backbone"]["id"])
    backbone = spec.build()
    if manifest["backbone"].get("weights") == BACKBONE_FILE:
        # A fine-tuned backbone travels in the bundle; otherwise the package's weights are used.
        backbone.body.load_state_dict(bundle.load_tensors(models_dir, version, BACKBONE_FILE))
    head_spec = manifest["head"]
    head = head_from_manifest(
        manifest, bundle.load_tensors(models_dir, version, head_spec.get("file", HEAD_FILE))
    )
    return TaggerNet(
        backbone, head, head_spec["kind"], head_spec.get("class_to_tag"), n_tags=len(manifest["tags"])
    ).eval()
