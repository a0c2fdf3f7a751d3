"""Training benchmark: for each backbone, a learning curve (test top-1 against labels per tag) of
the product's head and of a logistic-regression baseline on the same stored embeddings, and what
a photo costs each backbone on this machine's CPU. The model core alone (no Django, no database).

    .venv/bin/python bench/bench_training.py --dataset ../shared/datasets/clothing10 \
        --cache-dir /work/cache --out docs/bench/training.json --plot docs/bench/training.png

The dataset is ``<split>/<class>/*.jpg``; the train split plays people's labels (one tag per
photo, its class) and the test split is held out: never seen by training, early stopping or
thresholds. Embeddings are the tagging worker's own (``bench/_embeddings.py``) and are cached in
``--cache-dir`` as ``<dataset>_<backbone>.npz``; a missing cache is computed first (minutes per
backbone on 2 cores).

Each curve point draws ``k`` photos per tag from the train split with a seed and trains both
heads on them (``bench/_heads.py``): ``--seeds`` draws per point (3), reported as mean, min and
max test top-1. At "all" every draw holds the same photos, so only the product's training order
varies (the baseline is deterministic). The CPU cost is wall time per photo of
``Tagger.predict_sources`` on ``--cost-photos`` test photos (64) in the worker's batches of 16,
with ``--threads`` torch threads (2): the median of ``--cost-passes`` rounds (7) after a warm-up
pass, the backbones taking turns in each round (``bench/_cost.py``). Each pass records the cores
other processes kept busy meanwhile: the machine may be shared, and the times are the backbone's
own only where that is near zero. ``ms_per_photo`` is the median of those quiet passes when there
are at least 3 (``ms_per_photo_from`` says which), ``ms_per_photo_median`` that of every pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _cost import cpu_model, ms_per_photo, spread
from _embeddings import REPO, embeddings, load_split
from _heads import METHODS, onehot, sample_per_tag, top1

BACKBONES = "efficientnet_lite0,efficientnet_lite1,efficientnet_lite2"
# Issue 15's targets for test top-1 on clothing10.
TARGETS = {"10": 0.82, "all": 0.92}


def learning_curve(data: dict[str, np.ndarray], points: list[str], seeds: int) -> dict[str, list[dict]]:
    """Per method, one entry per labels-per-tag point: every draw's test top-1 and its summary."""
    tags = sorted(set(data["train_classes"].tolist()))
    curves: dict[str, list[dict[str, Any]]] = {method: [] for method in METHODS}
    for point in points:
        runs: dict[str, list[dict[str, Any]]] = {method: [] for method in METHODS}
        for seed in range(seeds):
            rows = sample_per_tag(data["train_classes"], tags, None if point == "all" else int(point), seed)
            train_x, train_y = data["train_x"][rows], onehot(data["train_classes"][rows], tags)
            for method, scores_of in METHODS.items():
                started = time.perf_counter()
                scores = scores_of(train_x, train_y, data["test_x"], tags, seed)
                runs[method].append(
                    {
                        "seed": seed,
                        "photos": len(rows),
                        "top1": round(top1(scores, data["test_classes"], tags), 4),
                        "seconds": round(time.perf_counter() - started, 2),
                    }
                )
        for method, method_runs in runs.items():
            values = [run["top1"] for run in method_runs]
            curves[method].append(
                {
                    "labels_per_tag": point,
                    "top1_mean": round(statistics.fmean(values), 4),
                    "top1_min": min(values),
                    "top1_max": max(values),
                    "runs": method_runs,
                }
            )
        print(
            f"  {point:>3} per tag: " + ", ".join(f"{m} {curves[m][-1]['top1_mean']:.3f}" for m in METHODS),
            flush=True,
        )
    return curves


def against_targets(curves: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each target point, per method: the mean and whether it (and the worst draw) reaches it."""
    out: dict[str, Any] = {}
    for method, curve in curves.items():
        by_point = {entry["labels_per_tag"]: entry for entry in curve}
        out[method] = {
            point: {
                "target": target,
                "top1_mean": by_point[point]["top1_mean"],
                "mean_meets": by_point[point]["top1_mean"] >= target,
                "every_draw_meets": by_point[point]["top1_min"] >= target,
            }
            for point, target in TARGETS.items()
            if point in by_point
        }
    return out


def machine() -> dict[str, Any]:
    import sklearn
    import timm
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "scikit_learn": sklearn.__version__,
        "git_commit": commit.strip(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "bench" / "results" / ".cache")
    parser.add_argument("--backbones", default=BACKBONES)
    parser.add_argument("--per-tag", default="5,10,25,50,all")
    parser.add_argument("--seeds", type=int, default=3, help="label draws per learning-curve point")
    parser.add_argument("--cost-photos", type=int, default=64)
    parser.add_argument("--cost-passes", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the CPU cost")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "training.json")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "results" / "training.png")
    args = parser.parse_args()
    points = args.per_tag.split(",")

    result: dict[str, Any] = {
        "dataset": args.dataset.name,
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
        "seeds": args.seeds,
        "targets": TARGETS,
        "baseline": "scikit-learn LogisticRegression(C=1, lbfgs, softmax) on every sampled photo",
        "product": "trainer.training.train_head: owner labels weight 1, implicit negatives 0.5, "
        "5 folds (every photo validated once), L-BFGS to convergence, calibrated; no background photos",
        "backbones": {},
    }
    test_files, _ = load_split(args.dataset, "test")
    cost_photos = spread(test_files, args.cost_photos)
    for backbone_id in args.backbones.split(","):
        print(f"{backbone_id}:", flush=True)
        data = embeddings(args.dataset, backbone_id, args.cache_dir)
        curves = learning_curve(data, points, args.seeds)
        result["backbones"][backbone_id] = {
            "train_photos": len(data["train_x"]),
            "test_photos": len(data["test_x"]),
            "tags": sorted(set(data["train_classes"].tolist())),
            "learning_curve": curves,
            "targets": against_targets(curves),
        }
    print("CPU cost:", flush=True)
    costs = ms_per_photo(
        list(result["backbones"]), cost_photos, threads=args.threads, passes=args.cost_passes
    )
    for backbone_id, cost in costs.items():
        result["backbones"][backbone_id]["cpu_cost"] = cost
        print(f"  {backbone_id}: {cost['ms_per_photo']} ms/photo ({cost['ms_per_photo_from']})", flush=True)
    result["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, points, args.plot)
    return 0


def plot(result: dict[str, Any], points: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    styles = {"product": "-", "baseline": "--"}
    x = np.arange(len(points))
    for colour, (backbone_id, entry) in zip(
        ("tab:blue", "tab:orange", "tab:green", "tab:red"), result["backbones"].items(), strict=False
    ):
        ms = entry["cpu_cost"]["ms_per_photo"]
        for method, curve in entry["learning_curve"].items():
            means = [p["top1_mean"] for p in curve]
            label = f"{backbone_id.replace('efficientnet_', '')} {method} ({ms:.0f} ms/photo)"
            axis.plot(x, means, styles[method], color=colour, marker="o", markersize=4, label=label)
            axis.fill_between(
                x, [p["top1_min"] for p in curve], [p["top1_max"] for p in curve], color=colour, alpha=0.12
            )
    for point, target in TARGETS.items():
        if point in points:
            i = points.index(point)
            axis.plot([i - 0.3, i + 0.3], [target, target], color="black", linewidth=2)
            axis.annotate(f"target {target}", (i, target), textcoords="offset points", xytext=(0, 5),
                          ha="center", fontsize=8)  # fmt: skip
    axis.set_xticks(x, points)
    axis.set_xlabel("labels per tag (train split)")
    axis.set_ylabel(f"test top-1 (mean of {result['seeds']} draws; band: min-max)")
    axis.set_ylim(0.4, 1)
    axis.set_title(f"Heads on stored embeddings: {result['dataset']}, {result['machine']['cpu']}")
    axis.legend(loc="lower right", fontsize=7)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
