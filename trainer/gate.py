"""The evaluation gate: a candidate replaces the active model only if it is not worse on the same
held-out photos.

Rule (documented in the README):
- Scores of both models are computed on the same validation photos, and compared by mAP on the
  tags both models know. The candidate passes if its mAP is at least the active model's minus
  ``tolerance``.
- When the two share no tags (the day-zero ImageNet model, or another backbone), there is nothing
  to compare: the candidate must reach ``min_map`` on its own instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.metrics import mean_average_precision


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    numbers: dict[str, Any]


def judge(
    *,
    labels: np.ndarray,
    tags: list[str],
    candidate_scores: np.ndarray,
    active_scores: np.ndarray | None,
    active_tags: list[str],
    tolerance: float,
    min_map: float,
) -> Verdict:
    candidate_map = mean_average_precision(candidate_scores, labels)
    shared = [t for t in tags if t in set(active_tags)]
    if active_scores is None or not shared:
        numbers = {"candidate_map": round(candidate_map, 4), "min_map": min_map, "shared_tags": 0}
        if candidate_map >= min_map:
            return Verdict(
                True, f"mAP {candidate_map:.3f} reaches the minimum {min_map:.3f} for a first model", numbers
            )
        return Verdict(
            False, f"mAP {candidate_map:.3f} is below the minimum {min_map:.3f} for a first model", numbers
        )
    ours = [tags.index(t) for t in shared]
    theirs = [active_tags.index(t) for t in shared]
    shared_labels = labels[:, ours]
    candidate_shared = mean_average_precision(candidate_scores[:, ours], shared_labels)
    active_shared = mean_average_precision(active_scores[:, theirs], shared_labels)
    numbers = {
        "candidate_map": round(candidate_map, 4),
        "candidate_map_shared": round(candidate_shared, 4),
        "active_map_shared": round(active_shared, 4),
        "shared_tags": len(shared),
        "tolerance": tolerance,
    }
    if candidate_shared >= active_shared - tolerance:
        return Verdict(
            True,
            f"mAP {candidate_shared:.3f} on {len(shared)} shared tags vs the active model's "
            f"{active_shared:.3f}",
            numbers,
        )
    return Verdict(
        False,
        f"mAP {candidate_shared:.3f} on {len(shared)} shared tags is worse than the active model's "
        f"{active_shared:.3f} by more than {tolerance:.3f}",
        numbers,
    )
