"""Training benchmark: retrain time from stored embeddings, held-out quality, and a learning
curve over labels per tag. The model core alone (no Django, no database).

    .venv/bin/python bench/bench_training.py --dataset ../shared/datasets/clothing10 \
        --out bench/results/training.json --plot bench/results/training.png

The train split plays people's tags (one tag per photo, its class); the test split is held out
and never seen by training, thresholds or early stopping. Embeddings come from the day-zero
backbone, as the tagging worker stores them, and are cached next to the output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from trainer.day_zero import ensure_active_model  # noqa: E402
from trainer.inference import Prediction, Tagger  # noqa: E402
from trainer.metrics import mean_average_precision  # noqa: E402
from trainer.training import LabelledSet, sigmoid_scores, train_head, with_pseudo_labels  # noqa: E402

VALIDATION_PERCENT = 20  # the trainer's default split


def embed_split(tagger: Tagger, files: list[Path], batch: int = 32) -> np.ndarray:
    vectors = []
    for start in range(0, len(files), batch):
        for result in tagger.predict_sources(files[start : start + batch]):
            if not isinstance(result, Prediction):
                raise SystemExit(f"could not embed a photo: {result}")
            vectors.append(result.embedding.astype(np.float32))
    return np.stack(vectors)


def load_split(dataset: Path, split: str) -> tuple[list[Path], list[str]]:
    files = sorted((dataset / split).rglob("*.jpg"))
    return files, [f.parent.name for f in files]


def embeddings(dataset: Path, cache: Path) -> dict[str, Any]:
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return {key: data[key] for key in data.files}
    models = Path(tempfile.mkdtemp()) / "models"
    ensure_active_model(models)
    tagger = Tagger.load(models, 0)
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        files, classes = load_split(dataset, split)
        started = time.perf_counter()
        out[f"{split}_x"] = embed_split(tagger, files)
        print(f"embedded {len(files)} {split} photos in {time.perf_counter() - started:.0f} s", flush=True)
        out[f"{split}_classes"] = np.array(classes)
        out[f"{split}_keys"] = np.array([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def labelled(x: np.ndarray, classes: np.ndarray, keys: np.ndarray, tags: list[str]) -> LabelledSet:
    labels = (classes[:, None] == np.array(tags)[None, :]).astype(np.float32)
    weights = np.where(labels == 1, 1.0, 0.5).astype(np.float32)  # implicit negatives count half
    validation = np.array([int(k[:8], 16) % 100 < VALIDATION_PERCENT for k in keys])
    if validation.all() or not validation.any():
        validation[: max(1, len(validation) // 5)] = True
        validation[max(1, len(validation) // 5) :] = False
    return LabelledSet(x, labels, weights, validation, tags)


def held_out(head: Any, x: np.ndarray, classes: np.ndarray, tags: list[str]) -> dict[str, float]:
    scores = sigmoid_scores(head.weight, head.bias, x)
    labels = (classes[:, None] == np.array(tags)[None, :]).astype(np.float32)
    top1 = float((np.array(tags)[scores.argmax(axis=1)] == classes).mean())
    return {"top1": round(top1, 4), "map": round(mean_average_precision(scores, labels), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "training.json")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "results" / "training.png")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-tag", default="5,10,25,50,all")
    parser.add_argument("--curve-runs", type=int, default=5, help="label samples per learning-curve point")
    args = parser.parse_args()

    data = embeddings(args.dataset, args.out.parent / ".cache" / f"{args.dataset.name}-embeddings.npz")
    tags = sorted(set(data["train_classes"].tolist()))
    result: dict[str, Any] = {
        "dataset": str(args.dataset),
        "tags": tags,
        "runs": args.runs,
        "train_photos": len(data["train_x"]),
        "test_photos": len(data["test_x"]),
    }

    full = labelled(data["train_x"], data["train_classes"], data["train_keys"], tags)
    seconds, quality = [], []
    for run in range(args.runs):
        started = time.perf_counter()
        head = train_head(full, seed=run)
        seconds.append(time.perf_counter() - started)
        quality.append(
            held_out(head, data["test_x"], data["test_classes"], tags) | {"epochs": head.epochs_run}
        )
    result["full_retrain"] = {
        "seconds": [round(s, 2) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 2),
        "test": quality,
        "validation_map": head.metrics["map"],
    }
    print(f"full retrain: median {result['full_retrain']['median_seconds']} s, test {quality}", flush=True)

    curve = []
    for per_tag in args.per_tag.split(","):
        points = []
        for run in range(args.curve_runs):
            rng = np.random.default_rng(run)  # run r draws the same photos at every point
            rows: list[int] = []
            for tag in tags:
                members = np.flatnonzero(data["train_classes"] == tag)
                take = len(members) if per_tag == "all" else min(int(per_tag), len(members))
                rows += rng.choice(members, size=take, replace=False).tolist()
            subset = np.array(sorted(rows))
            small = labelled(
                data["train_x"][subset], data["train_classes"][subset], data["train_keys"][subset], tags
            )
            started = time.perf_counter()
            head = train_head(small, seed=run)
            points.append(
                held_out(head, data["test_x"], data["test_classes"], tags)
                | {"seconds": round(time.perf_counter() - started, 2), "photos": len(subset)}
            )
        curve.append(
            {
                "labels_per_tag": per_tag,
                "runs": points,
                "top1_median": statistics.median(p["top1"] for p in points),
                "map_median": statistics.median(p["map"] for p in points),
            }
        )
        print(
            f"{per_tag} per tag: top-1 {curve[-1]['top1_median']:.3f}, mAP {curve[-1]['map_median']:.3f}",
            flush=True,
        )
    result["learning_curve"] = curve
    result["semi_supervised"] = semi_supervised(data, tags, args.curve_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(curve, args.plot, args.dataset.name)
    return 0


def semi_supervised(data: dict[str, Any], tags: list[str], runs: int) -> list[dict[str, Any]]:
    """Teacher/student: a head trained on k labels per tag pseudo-labels the rest of the train
    split (confidence 0.9, weight 0.3); the student trains on both. Test labels stay human."""
    points = []
    for per_tag in (10, 25):
        teacher_top1, student_top1, joined = [], [], []
        for run in range(runs):
            rng = np.random.default_rng(run)
            rows = sorted(
                i for tag in tags
                for i in rng.choice(np.flatnonzero(data["train_classes"] == tag), size=per_tag, replace=False)
            )  # fmt: skip
            rest = np.setdiff1d(np.arange(len(data["train_x"])), rows)
            small = labelled(
                data["train_x"][rows], data["train_classes"][rows], data["train_keys"][rows], tags
            )
            teacher = train_head(small, seed=run)
            teacher_scores = sigmoid_scores(teacher.weight, teacher.bias, data["train_x"][rest])
            bigger, added = with_pseudo_labels(
                small, data["train_x"][rest], teacher_scores, confidence=0.9, weight=0.3
            )
            student = train_head(bigger, seed=run)
            teacher_top1.append(held_out(teacher, data["test_x"], data["test_classes"], tags)["top1"])
            student_top1.append(held_out(student, data["test_x"], data["test_classes"], tags)["top1"])
            joined.append(added)
        points.append(
            {
                "labels_per_tag": per_tag,
                "teacher_top1": teacher_top1,
                "student_top1": student_top1,
                "pseudo_labelled_photos": joined,
                "teacher_median": statistics.median(teacher_top1),
                "student_median": statistics.median(student_top1),
            }
        )
        print(f"semi-supervised, {per_tag} per tag: teacher {points[-1]['teacher_median']:.3f}, "
              f"student {points[-1]['student_median']:.3f}", flush=True)  # fmt: skip
    return points


def plot(curve: list[dict[str, Any]], path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [point["labels_per_tag"] for point in curve]
    figure, axis = plt.subplots(figsize=(6, 4), dpi=120)
    for key, label in (("top1", "test top-1"), ("map", "test mAP")):
        runs = [[r[key] for r in point["runs"]] for point in curve]
        axis.plot(labels, [statistics.median(r) for r in runs], marker="o", label=label)
        axis.fill_between(labels, [min(r) for r in runs], [max(r) for r in runs], alpha=0.2)
    axis.axhline(0.8, color="grey", linestyle="--", linewidth=1, label="target top-1 at 10/tag")
    axis.set_xlabel("labels per tag (train split)")
    axis.set_ylabel("held-out test split")
    axis.set_ylim(0, 1)
    axis.set_title(f"Head on EfficientNet-Lite0 embeddings: {name}")
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
