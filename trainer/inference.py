"""Batched inference: photos in, per-tag scores and backbone embeddings out.

CUDA when present (mixed precision, channels-last), the CPU otherwise. Transforms are built
from the bundle's manifest, so weights and their preprocessing can never disagree. One photo that
cannot be decoded fails alone; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2 as T

from trainer import bundle
from trainer.allocator import CPU_CHUNK
from trainer.images import jpeg_decoded_whole, open_for_model
from trainer.manifest import Manifest, Preprocessing
from trainer.model import TaggerNet, TagHead, load_net, load_tag_head

log = logging.getLogger(__name__)

_INTERPOLATION = {
    "bicubic": T.InterpolationMode.BICUBIC,
    "bilinear": T.InterpolationMode.BILINEAR,
    "nearest": T.InterpolationMode.NEAREST,
}


def pick_device(preferred: str = "auto") -> torch.device:
    if preferred == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preferred)


def build_transform(preprocessing: Preprocessing) -> T.Compose:
    return T.Compose(
        [
            T.ToImage(),
            T.Resize(
                preprocessing.resize,
                interpolation=_INTERPOLATION[preprocessing.interpolation],
                antialias=True,
            ),
            T.CenterCrop(preprocessing.crop),
            T.ToDtype(torch.float32, scale=True),
            # In place on the new float tensor: the same numbers without a second copy per photo.
            T.Normalize(mean=list(preprocessing.mean), std=list(preprocessing.std), inplace=True),
        ]
    )


@dataclass(frozen=True)
class Suggestion:
    tag: str
    score: float
    version: int  # the model version that made it: the served one, or its day-zero fallback


@dataclass
class Prediction:
    scores: np.ndarray  # float32, one per tag of the bundle
    embedding: np.ndarray  # float16, the backbone's pooled features
    fallback_scores: np.ndarray | None = None  # the day-zero head's, when the bundle names one


@dataclass(frozen=True)
class Fallback:
    """The day-zero head a trained version falls back on where it is not confident."""

    version: int
    tags: list[str]
    thresholds: np.ndarray
    head: TagHead


def passing(scores: np.ndarray, thresholds: np.ndarray, tags: Sequence[str], version: int,
            skip: Collection[str] = ()) -> list[Suggestion]:  # fmt: skip
    """Tags whose score passes their threshold, best first, leaving out ``skip``."""
    above = np.flatnonzero(scores >= thresholds)
    ranked = above[np.argsort(-scores[above], kind="stable")]
    return [Suggestion(tags[i], float(scores[i]), version) for i in ranked if tags[i] not in skip]


class Tagger:
    """One loaded bundle, ready to tag. Build with :meth:`load`; keep one per process."""

    def __init__(
        self,
        net: TaggerNet,
        manifest: Manifest,
        device: torch.device,
        *,
        cpu_chunk: int = CPU_CHUNK,
        fallback: Fallback | None = None,
    ):
        self.net = net
        self.fallback = fallback
        if fallback is not None:
            fallback.head.to(device)
        # Day zero's own suggestions are ImageNet guesses, which people can vote down for good.
        self.day_zero = manifest.head.kind == "softmax_classes"
        self.cpu_chunk = cpu_chunk
        self.version = manifest.version
        # Embeddings are stored under this: a fine-tuned backbone's are kept apart from the original's.
        self.backbone_id = manifest.embedding_space
        self.tags: list[str] = list(manifest.tags)
        # Every tag the community taught, the ones the gate held back included: day zero never
        # suggests those (the community decides them, once they prove themselves).
        gate = manifest.gate or {}
        untried = [name for key in ("held_back", "too_little_support")
                   if isinstance(names := gate.get(key), dict) for name in names]  # fmt: skip
        self.taught: frozenset[str] = frozenset([*self.tags, *untried])
        self.thresholds = np.asarray(manifest.thresholds, dtype=np.float32)
        self.preprocessing = manifest.preprocessing
        self.transform = build_transform(self.preprocessing)
        self.device = device
        # On a GPU the CPU's JPEG decoding would be the bottleneck; nvJPEG takes it over.
        self.decode_on_gpu = device.type == "cuda"
        self.net = self.net.to(device)
        if device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    @classmethod
    def load(
        cls, models_dir: Path, version: int, device: str = "auto", *, cpu_chunk: int = CPU_CHUNK
    ) -> Tagger:
        manifest = bundle.verify(models_dir, version)
        net = load_net(models_dir, manifest)
        fallback = _load_fallback(models_dir, manifest)
        return cls(net, manifest, pick_device(device), cpu_chunk=cpu_chunk, fallback=fallback)

    def decode(self, source: bytes | str | Path) -> torch.Tensor:
        image = open_for_model(source, min_side=self.preprocessing.resize)
        return self.transform(image)

    @torch.inference_mode()
    def predict_tensors(self, batch: torch.Tensor) -> list[Prediction]:
        """Scores and embeddings for preprocessed pixels (N, 3, H, W); on a CPU in chunks of
        ``cpu_chunk`` photos."""
        if self.device.type == "cuda":
            batch = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.float16):
                scores, embeddings = self.net(batch)
        else:
            outputs = [self.net(chunk) for chunk in batch.split(self.cpu_chunk)]
            scores = torch.cat([chunk_scores for chunk_scores, _ in outputs])
            embeddings = torch.cat([chunk_embeddings for _, chunk_embeddings in outputs])
        return self._predictions(scores, embeddings)

    @torch.inference_mode()
    def predict_embeddings(self, embeddings: np.ndarray) -> list[Prediction]:
        """Scores for stored embeddings of this tagger's backbone: re-tagging with a new head
        needs no decode and no backbone pass."""
        tensor = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)).to(self.device)
        return self._predictions(self.net.scores_from_embeddings(tensor), tensor)

    def _predictions(self, scores: torch.Tensor, embeddings: torch.Tensor) -> list[Prediction]:
        scores_np = scores.float().cpu().numpy()
        fallback_np: list[np.ndarray | None] = [None] * len(scores_np)
        if self.fallback is not None:
            fallback_np = list(self.fallback.head(embeddings.float()).float().cpu().numpy())
        embeddings_np = embeddings.float().cpu().numpy().astype(np.float16)
        return [
            Prediction(scores=s, embedding=e, fallback_scores=f)
            for s, e, f in zip(scores_np, embeddings_np, fallback_np, strict=True)
        ]

    def decode_on_device(self, sources: Sequence[bytes | str | Path]) -> list[torch.Tensor | Exception]:
        """JPEGs decoded by nvJPEG on the GPU (or torchvision's decoder on the CPU), then resized,
        cropped and normalised there. Photos it cannot take (not JPEG, odd encodings) go through
        the Pillow path, so every photo Pillow can read is still tagged."""
        return [self._decode_one(source, any_jpeg=True) for source in sources]

    def _decode_one(self, source: bytes | str | Path, *, any_jpeg: bool) -> torch.Tensor | Exception:
        """One photo's model input on this tagger's device, or why it could not be read.

        JPEGs go straight into a tensor through torchvision's decoder: every one of them where it
        decodes on the device (``any_jpeg``), else only those too small to decode at reduced size
        (2.1 ms against 2.9 through Pillow for a 400x534 photo, transform included; Pillow decodes
        big JPEGs at a fraction of their size). Everything else, and anything that decoder refuses,
        goes through Pillow, which decides whether the photo is really bad."""
        try:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
        except OSError as error:
            return error
        direct = data[:2] == b"\xff\xd8" if any_jpeg else jpeg_decoded_whole(data, self.preprocessing.resize)
        if direct:
            try:
                return self.transform(self._decode_jpeg(data, self.device))
            except Exception:  # noqa: BLE001 - Pillow's path below reports what is wrong
                pass
        decoded = self._decode_or_error(data)
        return decoded if isinstance(decoded, Exception) else decoded.to(self.device)

    @staticmethod
    def _decode_jpeg(data: bytes, device: torch.device) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_jpeg

        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        return decode_jpeg(raw, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True)

    def _decode_or_error(self, source: bytes | str | Path) -> torch.Tensor | Exception:
        try:
            return self.decode(source)
        except Exception as error:  # noqa: BLE001 - any decoder failure belongs to that one photo
            return error

    def decode_sources(self, sources: Sequence[bytes | str | Path]) -> list[torch.Tensor | Exception]:
        """Each photo's model input, or the exception that kept it from being read."""
        return [self._decode_one(source, any_jpeg=self.decode_on_gpu) for source in sources]

    def predict_sources(self, sources: Sequence[bytes | str | Path]) -> list[Prediction | Exception]:
        """Decodes each photo, then runs the good ones as one batch. A photo that cannot be decoded
        gets its exception in its place; it never fails the batch."""
        return self.predict_decoded(self.decode_sources(sources))

    def predict_decoded(self, decoded: Sequence[torch.Tensor | Exception]) -> list[Prediction | Exception]:
        good = [t for t in decoded if isinstance(t, torch.Tensor)]
        predictions = iter(self.predict_tensors(torch.stack(good)) if good else [])
        return [item if isinstance(item, Exception) else next(predictions) for item in decoded]

    def suggestions(
        self, prediction: Prediction, max_tags: int, suppressed: Collection[str] = ()
    ) -> list[Suggestion]:
        """At most ``max_tags`` suggestions, best first (docs/architecture.md, 'Suggestions: the
        community head and day zero'): the served head's tags that pass their threshold; where a
        trained head has none, its day-zero fallback's, leaving out the tags the head was taught
        (the community decides those) and day-zero tags people have ``suppressed``."""
        own = passing(prediction.scores, self.thresholds, self.tags, self.version,
                      skip=suppressed if self.day_zero else ())  # fmt: skip
        if own or self.fallback is None or prediction.fallback_scores is None:
            return own[:max_tags]
        fallback = self.fallback
        skip = {*self.taught, *suppressed}
        return passing(prediction.fallback_scores, fallback.thresholds, fallback.tags, fallback.version,
                       skip=skip)[:max_tags]  # fmt: skip


def _load_fallback(models_dir: Path, manifest: Manifest) -> Fallback | None:
    """The day-zero head a trained bundle names, checked to read the same embeddings."""
    if manifest.fallback_version is None or manifest.fallback_version == manifest.version:
        return None
    other = bundle.verify(models_dir, manifest.fallback_version)
    if other.embedding_space != manifest.embedding_space:
        raise bundle.BundleError(
            f"version {manifest.version}'s fallback {other.version} reads {other.embedding_space} "
            f"embeddings, not {manifest.embedding_space}"
        )
    return Fallback(
        version=other.version,
        tags=list(other.tags),
        thresholds=np.asarray(other.thresholds, dtype=np.float32),
        head=load_tag_head(models_dir, other),
    )
