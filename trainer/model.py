"""The tagger network: a frozen backbone and a multi-label head, as a bundle describes them.

Two head kinds:
- ``softmax_classes``: the day-zero model, the backbone's own ImageNet classifier; class
  probabilities are summed into tags through ``class_to_tag``.
- ``sigmoid``: a trained head, one sigmoid per tag (multi-label).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from trainer import bundle
from trainer.backbones import Backbone, get_backbone
from trainer.manifest import HeadKind, Manifest


class TagHead(nn.Module):
    """Embeddings to per-tag scores, as a bundle's head describes them."""

    def __init__(self, head: nn.Linear, kind: HeadKind, class_to_tag: Sequence[int] | None, n_tags: int):
        super().__init__()
        self.head = head
        self.kind = kind
        self.n_tags = n_tags
        index = torch.tensor(class_to_tag if class_to_tag is not None else range(n_tags), dtype=torch.long)
        self.class_to_tag: torch.Tensor
        self.register_buffer("class_to_tag", index, persistent=False)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        logits = self.head(embeddings.float())
        if self.kind == "sigmoid":
            return torch.sigmoid(logits)
        probs = torch.softmax(logits, dim=-1)
        out = torch.zeros(probs.shape[0], self.n_tags, dtype=probs.dtype, device=probs.device)
        return out.index_add_(1, self.class_to_tag, probs)


class TaggerNet(nn.Module):
    def __init__(self, backbone: Backbone, head: TagHead):
        super().__init__()
        self.backbone = backbone
        self.tag_head = head

    def scores_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.tag_head(embeddings)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.backbone.embed(pixels)
        return self.scores_from_embeddings(embeddings), embeddings


def head_from_manifest(manifest: Manifest, weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
    expected = manifest.backbone.embedding_dim
    if expected and weight.shape[1] != expected:
        raise bundle.BundleError(f"head expects {weight.shape[1]}-d embeddings, backbone gives {expected}")
    return head


def load_net(models_dir: Path, manifest: Manifest) -> TaggerNet:
    """Builds the network of a bundle whose ``manifest`` ``bundle.verify`` returned."""
    backbone = get_backbone(manifest.backbone.id).build()
    # A fine-tuned backbone travels in the bundle; otherwise the package's weights are used.
    tuned = bundle.load_backbone_state(models_dir, manifest)
    if tuned is not None:
        backbone.body.load_state_dict(tuned)
    return TaggerNet(backbone, load_tag_head(models_dir, manifest)).eval()


def load_tag_head(models_dir: Path, manifest: Manifest) -> TagHead:
    """A bundle's head alone: enough to score stored embeddings of its backbone."""
    head = head_from_manifest(manifest, *bundle.load_head(models_dir, manifest))
    return TagHead(head, manifest.head.kind, manifest.head.class_to_tag, n_tags=len(manifest.tags)).eval()
