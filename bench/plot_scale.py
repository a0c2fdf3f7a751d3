"""Every figure of ``bench_scale.py`` against the library's size, from its JSON files:

    .venv/bin/python bench/plot_scale.py bench/results/scale-*.json --out bench/results/scale.png

Left: each page's and API read's p95 (log-log, with the 100 ms and 50 ms targets). Right: the
work that grows with the library (re-scoring it, a training run, the index build, the background
recounts), in seconds, next to a line growing as N log N from the smallest size, so a curve
steeper than that shows at a glance."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

WORK = {
    "rescore_seconds": "re-score the library",
    "train_seconds": "training run",
    "index_build_seconds": "HNSW index build",
    "tag_counts_refresh_seconds": "tag recount",
    "vocabulary_refresh_seconds": "vocabulary recount",
}


def plot(summaries: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = sorted(summaries, key=lambda s: s["photos"])
    sizes = [s["photos"] for s in summaries]
    figure, (pages, work) = plt.subplots(1, 2, figsize=(13, 5), dpi=120)
    for name in sorted({k for s in summaries for k in s["p95_ms"]}):
        points = [(s["photos"], s["p95_ms"][name]) for s in summaries if name in s["p95_ms"]]
        pages.plot(*zip(*points, strict=True), marker="o", label=name)
    pages.axhline(100, color="grey", linestyle="--", linewidth=1)
    pages.axhline(50, color="grey", linestyle=":", linewidth=1)
    pages.set(xscale="log", yscale="log", xlabel="photos", ylabel="p95 (ms)",
              title="Pages and API reads (targets: 100 ms, similar 50 ms)")  # fmt: skip
    pages.legend(fontsize=7, ncol=2)
    for key, label in WORK.items():
        points = [(s["photos"], s[key]) for s in summaries if s.get(key)]
        if points:
            work.plot(*zip(*points, strict=True), marker="o", label=label)
            n0, y0 = points[0]
            reference = [y0 * (n * math.log(n)) / (n0 * math.log(n0)) for n in sizes if n >= n0]
            work.plot([n for n in sizes if n >= n0], reference, color="lightgrey", linewidth=1)
    work.set(xscale="log", yscale="log", xlabel="photos", ylabel="seconds",
             title="Work that grows with the library (grey: N log N from the first point)")  # fmt: skip
    work.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plot([json.loads(p.read_text())["summary"] for p in args.results], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
