"""A dataset's embeddings per backbone, computed exactly as the tagging worker stores them, and
cached: the benchmarks that train heads read these instead of running a backbone again.

    .venv/bin/python bench/_embeddings.py --dataset ../shared/datasets/clothing10 \
        --cache-dir /work/cache --backbones efficientnet_lite0,efficientnet_lite2,efficientnet_lite1

The dataset is ``<split>/<class>/*.jpg``. For each backbone a day-zero bundle is published into a
temporary folder and loaded with ``Tagger.load``, and each photo goes through
``Tagger.predict_sources`` in batches of the worker's size (``TAGGER_BATCH_SIZE``, 16), so decode,
preprocessing and network are the worker's own. The cache ``<dataset>_<backbone>.npz`` holds, for
each split, ``{split}_x`` (the stored float16 embedding, upcast to float32), ``{split}_classes``
(the class folder) and ``{split}_keys`` (sha256 of the file). With ``--ready FILE``, a line
``<backbone> <path>`` is appended to FILE as soon as each cache is written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from trainer.day_zero import publish_day_zero  # noqa: E402 - the repository's own package
from trainer.inference import Prediction, Tagger  # noqa: E402

SPLITS = ("train", "validation", "test")
WORKER_BATCH = 16  # api/settings.py TAGGER_BATCH_SIZE's default


def load_split(dataset: Path, split: str) -> tuple[list[Path], list[str]]:
    files = sorted((dataset / split).rglob("*.jpg"))
    return files, [f.parent.name for f in files]


def day_zero_tagger(backbone_id: str, models_dir: Path) -> Tagger:
    """The tagger a worker serves on day zero for this backbone, on the CPU."""
    publish_day_zero(models_dir, backbone_id)
    return Tagger.load(models_dir, 0, device="cpu")


def embed_split(tagger: Tagger, files: list[Path], batch: int = WORKER_BATCH) -> np.ndarray:
    vectors = []
    for start in range(0, len(files), batch):
        for result in tagger.predict_sources(files[start : start + batch]):
            if not isinstance(result, Prediction):
                raise SystemExit(f"could not embed a photo: {result}")
            vectors.append(result.embedding.astype(np.float32))
    return np.stack(vectors)


def cache_path(cache_dir: Path, dataset: Path, backbone_id: str) -> Path:
    return cache_dir / f"{dataset.name}_{backbone_id}.npz"


def embeddings(dataset: Path, backbone_id: str, cache_dir: Path) -> dict[str, np.ndarray]:
    """Every split's embeddings, classes and keys, from the cache or computed (then cached)."""
    cache = cache_path(cache_dir, dataset, backbone_id)
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    out: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as models:
        tagger = day_zero_tagger(backbone_id, Path(models))
        for split in SPLITS:
            files, classes = load_split(dataset, split)
            if not files:
                continue
            started = time.perf_counter()
            out[f"{split}_x"] = embed_split(tagger, files)
            seconds = time.perf_counter() - started
            print(f"{backbone_id}: embedded {len(files)} {split} photos in {seconds:.0f} s", flush=True)
            out[f"{split}_classes"] = np.array(classes)
            out[f"{split}_keys"] = np.array([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed, so a reader never opens half a file.
    partial = cache.with_name(cache.stem + ".partial.npz")
    np.savez(partial, **out)  # type: ignore[arg-type]
    os.replace(partial, cache)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "bench" / "results" / ".cache")
    parser.add_argument("--backbones", default="efficientnet_lite0,efficientnet_lite2,efficientnet_lite1")
    parser.add_argument("--ready", type=Path, help="append '<backbone> <path>' here as each cache is done")
    args = parser.parse_args()
    for backbone_id in args.backbones.split(","):
        embeddings(args.dataset, backbone_id, args.cache_dir)
        path = cache_path(args.cache_dir, args.dataset, backbone_id).resolve()
        if args.ready:
            with args.ready.open("a") as ready:
                ready.write(f"{backbone_id} {path}\n")
        print(f"{backbone_id}: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
