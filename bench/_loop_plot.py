"""bench_loop.py's plot: the active model on held-out photos as labels arrive, with the gate's
out-of-fold mAP and its interval per run (left), and per activation or rejected candidate the
gate's paired mAP difference against the active model next to the same difference on held-out
photos, both with their 95% intervals (right)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = result["rounds"]
    labels = np.cumsum(
        [r["owner_tags"] + r["suggestions_confirmed"] + r["suggestions_rejected"] for r in rounds]
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    left.plot(labels, [r["active"]["top1"] for r in rounds], marker="o", label="held-out top-1 (active)")
    left.plot(labels, [r["active"]["map"] for r in rounds], marker="s", label="held-out mAP (active)")
    for x, r in zip(labels, rounds, strict=True):
        left.annotate(f"v{r['active']['version']}", (x, r["active"]["top1"]), textcoords="offset points",
                      xytext=(0, 6), ha="center", fontsize=8)  # fmt: skip
    for accepted, colour, name in ((True, "tab:green", "activated"), (False, "tab:red", "rejected")):
        points = [
            (x, r["run"]["gate"]["candidate_map"])
            for x, r in zip(labels, rounds, strict=True)
            if r["run"] and r["run"]["gate"] and "candidate_map" in r["run"]["gate"]
            and r["run"]["gate"]["accepted"] is accepted
        ]  # fmt: skip
        if points:
            marker = "D" if accepted else "x"
            _errorbars(left, [x + 8 for x, _ in points], [m for _, m in points], colour,
                       f"gate: out-of-fold mAP, 95% interval ({name})", marker)  # fmt: skip
    turned_down = [(x, r["run"]["held_out"]["map"]) for x, r in zip(labels, rounds, strict=True)
                   if r["run"] and "held_out" in r["run"]]  # fmt: skip
    if turned_down:
        left.scatter([x for x, _ in turned_down], [m for _, m in turned_down], marker="s", facecolors="none",
                     edgecolors="tab:red", label="held-out mAP of the rejected candidate")  # fmt: skip
    left.set_xlabel("labels people gave (owner tags + confirmations + rejections)")
    left.set_ylabel("mAP / top-1")
    left.set_ylim(0, 1.05)
    left.set_title("The loop through the API (clothing10, one run)", fontsize=10)
    left.grid(alpha=0.3)
    left.legend(loc="lower right", fontsize=7)

    entries = [
        (
            f"v{a['version']}" + ("" if a["held_out_vs_previous"] else "\nfirst"),
            a["gate"],
            a["held_out_vs_previous"],
        )
        for a in result["activations"]
    ] + [(f"v{c['version']}*", c["gate"], c["held_out_vs_active"]) for c in result["rejected_candidates"]]
    entries = sorted(entries, key=lambda e: int(e[0][1:].split("\n")[0].rstrip("*")))
    positions = np.arange(len(entries))
    gate_points = [(i, e[1]["difference"]) for i, e in enumerate(entries) if e[1] and "difference" in e[1]]
    held_points = [
        (i, e[2]["map_difference"]) for i, e in enumerate(entries) if e[2] and "map_difference" in e[2]
    ]
    if gate_points:
        _errorbars(right, [i - 0.12 for i, _ in gate_points], [d for _, d in gate_points], "tab:purple",
                   "gate: candidate - active, new labelled photos", "D")  # fmt: skip
    if held_points:
        _errorbars(right, [i + 0.12 for i, _ in held_points], [d for _, d in held_points], "tab:blue",
                   "held-out: new - previous, shared tags' test photos", "o")  # fmt: skip
    right.axhline(0, color="black", linewidth=0.8)
    right.set_xticks(positions, [e[0] for e in entries], fontsize=8, rotation=90 if len(entries) > 10 else 0)
    for tick, entry in zip(right.get_xticklabels(), entries, strict=True):
        tick.set_color("tab:red" if entry[0].endswith("*") else "black")
    right.set_xlabel("version (red *: rejected, against the model that stayed active)")
    right.set_ylabel("mAP difference on shared tags (95% interval)")
    right.set_title("Each activation (or rejection) against the model it would replace", fontsize=10)
    right.grid(alpha=0.3)
    right.legend(loc="best", fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def _errorbars(axis: Any, xs: list[float], figures: list[dict[str, float]], colour: str, label: str,
               marker: str) -> None:  # fmt: skip
    values = np.array([f["value"] for f in figures])
    below = values - np.array([f["low"] for f in figures])
    above = np.array([f["high"] for f in figures]) - values
    axis.errorbar(xs, values, yerr=[below, above], fmt=marker, color=colour, capsize=3, markersize=4,
                  linestyle="none", label=label)  # fmt: skip
