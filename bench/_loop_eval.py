"""What bench_loop.py judges versions by: a version's community head on the held-out test split
(never uploaded), two versions compared as the gate compares them (tags both know, those tags'
test photos) with a one-sided McNemar test on top-1 and a paired bootstrap interval on mAP, and
the gate's own verdict, reason, intervals and preview as a run left them."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

# Resamples of the held-out photos for the paired mAP difference (the gate uses 300 by default).
HELD_OUT_RESAMPLES = 1000


class HeldOut:
    """The test split's embeddings and classes, and each version's scores on them."""

    def __init__(self, models_dir: Path, x: np.ndarray, classes: np.ndarray) -> None:
        self.models_dir, self.x, self.classes = models_dir, x, classes
        self.scores: dict[int, tuple[list[str], np.ndarray, np.ndarray]] = {}

    def score(self, version: int) -> dict[str, Any]:
        """A version's community head on every test photo: top-1 over the tags it knows (photos of
        other kinds count as wrong), mAP over its tags (photos of other kinds are negatives), and
        what it would suggest by its own thresholds (the day-zero fallback aside)."""
        from trainer import bundle
        from trainer.metrics import mean_average_precision
        from trainer.training import sigmoid_scores

        manifest = bundle.verify(self.models_dir, version)
        if manifest.head.kind != "sigmoid":
            return {"version": version, "top1": 0.0, "map": 0.0, "tags": 0}
        weight, bias = bundle.load_head(self.models_dir, manifest)
        scores = sigmoid_scores(weight, bias, self.x)
        tags = np.array(manifest.tags)
        thresholds = np.array(manifest.thresholds, dtype=np.float32)
        self.scores[version] = (list(manifest.tags), scores, thresholds)
        labels = (self.classes[:, None] == tags[None, :]).astype(np.float32)
        best = scores.argmax(axis=1)
        suggested = scores[np.arange(len(scores)), best] >= thresholds[best]
        right = tags[best] == self.classes
        taught = np.isin(self.classes, tags)
        return {
            "version": version,
            "top1": round(float(right.mean()), 4),
            "map": round(mean_average_precision(scores, labels), 4),
            "tags": len(tags),
            # Photos of the kinds it knows: given their right tag as a community suggestion.
            "taught_photos": int(taught.sum()),
            "taught_suggested_right": _share(suggested & right, taught),
            # Photos of kinds it was never taught: given a (necessarily wrong) community suggestion.
            "untaught_photos": int((~taught).sum()),
            "untaught_given_a_suggestion": _share(suggested, ~taught),
        }

    def compare(self, before: int, after: int) -> dict[str, Any]:
        """Two versions on the held-out photos the way the gate compares them: only the tags both
        know, and only the photos of those tags (a model that learnt a new tag is not better for it)."""
        from trainer.gate import bootstrap_map
        from trainer.metrics import mean_average_precision

        (tags_a, scores_a, _), (tags_b, scores_b, _) = self.scores[before], self.scores[after]
        shared = [t for t in tags_a if t in tags_b]
        out: dict[str, Any] = {"from": before, "to": after, "shared_tags": len(shared)}
        rows = np.isin(self.classes, shared)
        out["photos"] = int(rows.sum())
        if not shared:
            return out
        labels = (self.classes[rows][:, None] == np.array(shared)[None, :]).astype(np.float32)
        right, mine = {}, {}
        for name, tags, scores in (("before", tags_a, scores_a), ("after", tags_b, scores_b)):
            mine[name] = scores[rows][:, [tags.index(t) for t in shared]]
            right[name] = np.array(shared)[mine[name].argmax(axis=1)] == self.classes[rows]
            out[f"top1_{name}"] = round(float(right[name].mean()), 4)
            out[f"map_{name}"] = round(mean_average_precision(mine[name], labels), 4)
        lost = int((right["before"] & ~right["after"]).sum())
        won = int((~right["before"] & right["after"]).sum())
        difference = bootstrap_map(
            labels, mine["after"], resamples=HELD_OUT_RESAMPLES, against=mine["before"]
        )
        out |= {
            "photos_lost": lost,
            "photos_won": won,
            "p_worse": round(p_worse(lost, won), 4),
            # after - before, paired bootstrap over these photos (95%).
            "map_difference": difference.to_dict(),
        }
        return out


def _share(hit: np.ndarray, among: np.ndarray) -> float | None:
    return round(float(hit[among].mean()), 4) if among.any() else None


def p_worse(lost: int, won: int) -> float:
    """Exact one-sided McNemar test: the chance of losing at least ``lost`` of the ``lost + won``
    photos on which two models disagree, were the new one no worse than the old. Small values
    mean really worse; top-1 on a few hundred photos moves by a few photos between equal models."""
    disagreements = lost + won
    return sum(math.comb(disagreements, k) for k in range(lost, disagreements + 1)) / 2**disagreements


GATE_KEYS = ("photos", "judged_tags", "too_little_support", "candidate_map", "compared_with_active",
             "compared_photos", "shared_tags", "candidate_map_shared", "active_map_shared",
             "difference", "new_tags_map", "min_map", "tolerance", "judged_alone",
             "held_back")  # fmt: skip
PREVIEW_KEYS = ("photos", "same", "gain", "lose", "change", "without_embedding", "examples")


def run_record(run: Any, known: dict[int, dict[str, str | None]]) -> dict[str, Any]:
    """A finished training run as the bench reports it: outcome, the gate's verdict with its reason
    and intervals, the preview's counts and examples (with each photo's class and owner tag from
    ``known``), and the out-of-fold figures."""
    from api.training.models import ModelVersion

    metrics = run.metrics or {}
    gate = metrics.get("gate") or {}
    reason = run.error
    if run.model_version is not None:
        row = ModelVersion.objects.filter(version=run.model_version).first()
        reason = row.reason if row is not None else reason
    preview = {key: value for key, value in (metrics.get("preview") or {}).items() if key in PREVIEW_KEYS}
    for examples in preview.get("examples", {}).values():  # each with the photo's class and owner tag
        for example in examples:
            example |= known.get(example["photo"], {})
    seconds = (
        round((run.finished_at - run.started_at).total_seconds(), 1)
        if run.finished_at and run.started_at
        else None
    )
    return {
        "id": run.pk,
        "status": run.status,
        "version": run.model_version,
        "seconds": seconds,
        "validation_map": metrics.get("map"),  # out of fold, all tags with enough support
        "validation_top1": metrics.get("top1_accuracy"),
        "epochs": metrics.get("epochs"),
        "folds": metrics.get("folds"),
        "labelled_photos": metrics.get("labelled_photos"),
        "background_photos": metrics.get("background_photos"),
        # Out-of-fold AP and positives per tag (None: too little support to be scored).
        "per_tag": {
            tag: {"ap": figures.get("ap"), "support": figures.get("support")}
            for tag, figures in (metrics.get("per_tag") or {}).items()
        },
        "gate": {
            "accepted": run.status == "succeeded",
            "reason": reason,
            **{key: gate[key] for key in GATE_KEYS if key in gate},
        }
        if run.model_version is not None
        else None,
        "preview": preview or None,
        "error": run.error,
    }


def summarise(rounds: list[dict[str, Any]], held: HeldOut) -> dict[str, Any]:
    """Each activation with the run that made it, each rejected candidate against the model that
    stayed active, and the verdicts: does held-out mAP climb, was any activation significantly
    worse on held-out photos."""
    activations: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for number, record in enumerate(rounds):
        run, active = record["run"], record["active"]
        before = rounds[number - 1]["active"] if number else None
        if run is not None and run["status"] == "rejected" and run["version"] is not None:
            scored = run["held_out"]  # scored in the loop: the bundles go with the stack
            versus = held.compare(active["version"], run["version"]) if active["tags"] else None
            rejected.append({"round": record["round"], "version": run["version"], "gate": run["gate"],
                             "preview": run["preview"], "held_out": scored,
                             "held_out_vs_active": versus})  # fmt: skip
        if not active["tags"] or (before is not None and before["version"] == active["version"]):
            continue
        made_by = run if run is not None and run["version"] == active["version"] else None
        activations.append({
            "round": record["round"],
            "version": active["version"],
            "tags": active["tags"],
            "held_out": {k: v for k, v in active.items() if k not in {"version", "tags"}},
            "gate": made_by["gate"] if made_by else None,
            "preview": made_by["preview"] if made_by else None,
            "held_out_vs_previous": held.compare(before["version"], active["version"])
            if before is not None and before["tags"]
            else None,
        })  # fmt: skip
    compared = [a["held_out_vs_previous"] for a in activations if a["held_out_vs_previous"]]
    compared = [c for c in compared if c["shared_tags"]]
    runs = [r["run"] for r in rounds if r["run"] is not None]
    pairs = list(itertools.pairwise(activations))
    return {
        "activations": activations,
        "rejected_candidates": rejected,
        "runs_by_status": {
            s: sum(r["status"] == s for r in runs) for s in sorted({r["status"] for r in runs})
        },
        # On every test photo, whatever tags each version knows (the old headline).
        "every_activation_at_least_as_good": all(
            b["held_out"]["top1"] >= a["held_out"]["top1"] for a, b in pairs
        ),
        "activations_on_shared_tags": compared,
        "every_activation_at_least_as_good_on_shared_tags": {
            metric: all(c[f"{metric}_after"] >= c[f"{metric}_before"] for c in compared)
            for metric in ("map", "top1")
        },
        # Held-out mAP, on the tags both versions know, never fell from one activation to the next.
        "held_out_map_climbs": all(c["map_after"] >= c["map_before"] for c in compared),
        # Over each version's own tags (more tags, harder ones: not comparable between versions).
        "held_out_map_by_activation": [a["held_out"]["map"] for a in activations],
        # Held-out photos differ from the gate's, so equal models differ here by a few photos.
        # Significantly worse: a one-sided McNemar test at 5% on top-1, or a paired bootstrap 95%
        # interval of the mAP difference entirely below 0 (one test per activation, no correction).
        "no_activation_significantly_worse_in_top1": all(c["p_worse"] >= 0.05 for c in compared),
        "no_activation_significantly_worse_in_map": all(c["map_difference"]["high"] >= 0 for c in compared),
        # Per judged run, the new tags the gate left out of the published head: below the
        # minimum by their own lower bound (held_back, with AP intervals) or too few positives.
        "held_back_by_run": [
            {
                "round": r["round"],
                "version": r["run"]["version"],
                "status": r["run"]["status"],
                "held_back": r["run"]["gate"].get("held_back", {}),
                "too_little_support": r["run"]["gate"].get("too_little_support", {}),
            }
            for r in rounds
            if r["run"] is not None and r["run"]["gate"] is not None
        ],
        "final_top1": activations[-1]["held_out"]["top1"] if activations else None,
        "final_map": activations[-1]["held_out"]["map"] if activations else None,
    }
