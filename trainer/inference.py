"""Batched inference: photos in, per-tag scores and backbone embeddings out.

CUDA when present (mixed precision, channels-last), the CPU otherwise. Transforms are built
from the bundle's manifest, so weights and their preprocessing can never disagree. One photo that
cannot be decoded fails alone; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2 as T

from trainer import bundle
from trainer.allocator import CPU_CHUNK
from trainer.images import jpeg_decoded_whole, open_for_model
from trainer.manifest import Manifest, Preprocessing
from trainer.model import TaggerNet, load_net

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


@dataclass
class Prediction:
    scores: np.ndarray  # float32, one per tag of the bundle
    embedding: np.ndarray  # float16, the backbone's pooled features


class Tagger:
    """One loaded bundle, ready to tag. Build with :meth:`load`; keep one per process."""

    def __init__(
        self, net: TaggerNet, manifest: Manifest, device: torch.device, *, cpu_chunk: int = CPU_CHUNK
    ):
        self.net = net
        self.cpu_chunk = cpu_chunk
        self.version = manifest.version
        # Embeddings are stored under this: a fine-tuned backbone's are kept apart from the original's.
        self.backbone_id = manifest.embedding_space
        self.tags: list[str] = list(manifest.tags)
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
        return cls(net, manifest, pick_device(device), cpu_chunk=cpu_chunk)

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
        scores_np = scores.float().cpu().numpy()
        embeddings_np = embeddings.float().cpu().numpy().astype(np.float16)
        return [Prediction(scores=s, embedding=e) for s, e in zip(scores_np, embeddings_np, strict=True)]

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

    def suggestions(self, prediction: Prediction, max_tags: int) -> list[Suggestion]:
        """Tags whose score passes their threshold, best first, at most ``max_tags``."""
        passing = np.flatnonzero(prediction.scores >= self.thresholds)
        ranked = passing[np.argsort(-prediction.scores[passing])][:max_tags]
        return [Suggestion(self.tags[i], float(prediction.scores[i])) for i in ranked]
