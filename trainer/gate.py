"""The evaluation gate: a candidate replaces the active model only if, on photos neither model
trained on, it is not worse, and it knows how sure it is.

Rule (documented in docs/architecture.md):
- The candidate's scores are its out-of-fold scores: every labelled photo scored by a fold head
  that never saw it. Tags with fewer than ``min_support`` positive photos are named as too little
  support and left out of every figure (never scored 1.000 on one photo).
- Each figure comes with a 95% bootstrap interval (photos resampled with replacement).
- With no active model to compare (day zero, another backbone, no shared tags, or fewer than
  ``min_support`` positives of a shared tag on photos labelled after the active model was
  trained), the candidate must reach ``min_map`` by its interval's lower bound.
- Otherwise candidate and active model are compared on the same photos the active model never
  trained on, by mAP on the shared tags (paired bootstrap of the difference). The candidate
  passes if the difference is at least ``-tolerance`` and it is not significantly worse (the
  difference's upper bound is not below 0).
- A tag a trained active model does not serve (every tag, for a first model or against day
  zero) is judged on its own: it joins the published vocabulary only if its AP reaches
  ``min_map`` by its own interval's lower bound. The others, and such tags with too little
  support, are held back, named with their figures, and taught again by the next run:
  one tag people have not yet taught well enough neither blocks the tags that are ready nor
  reaches the site early. A candidate with no tag left to publish is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.metrics import Ranked, mean_average_precision


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    numbers: dict[str, Any]
    # Tags that did not prove themselves: trained, judged, named; an accepted candidate is
    # published without them (a rejected one keeps them: activating it by hand overrides the gate).
    held_back: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": round(self.value, 4), "low": round(self.low, 4), "high": round(self.high, 4)}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_map(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    resamples: int,
    seed: int = 0,
    against: np.ndarray | None = None,
) -> Interval:
    """mAP of ``scores`` with its 95% interval; with ``against``, the paired difference
    mAP(scores) - mAP(against) on the same resampled photos."""

    ranked = Ranked(scores, labels)
    opponent = None if against is None else Ranked(against, labels)

    def figure(counts: np.ndarray | None) -> float:
        value = _mean_known(ranked.average_precisions(counts))
        if opponent is not None:
            value -= _mean_known(opponent.average_precisions(counts))
        return value

    rng = np.random.default_rng(seed)
    samples = [figure(_drawn(rng, len(labels))) for _ in range(resamples)]
    low, high = np.percentile(samples, [2.5, 97.5])
    return Interval(figure(None), float(low), float(high))


def _drawn(rng: np.random.Generator, photos: int) -> np.ndarray:
    """How many times each photo is drawn in one resample with replacement."""
    return np.bincount(rng.integers(0, photos, photos), minlength=photos)


def _mean_known(aps: np.ndarray) -> float:
    known = aps[~np.isnan(aps)]
    return float(known.mean()) if len(known) else 0.0


@dataclass(frozen=True)
class Resampled:
    """Each tag's AP on every photo (``whole``) and on each bootstrap resample (``samples``,
    resamples x tags; NaN where a resample drew no positive of the tag): drawn once per judgement,
    read by the pooled interval and by each tag's own."""

    whole: np.ndarray
    samples: np.ndarray

    @classmethod
    def draw(cls, labels: np.ndarray, scores: np.ndarray, *, resamples: int, seed: int = 0) -> Resampled:
        rng = np.random.default_rng(seed)
        ranked = Ranked(scores, labels)
        samples = np.array([ranked.average_precisions(_drawn(rng, len(labels))) for _ in range(resamples)])
        return cls(ranked.average_precisions(), samples.reshape(resamples, labels.shape[1]))

    def pooled(self) -> Interval:
        """The mAP over the tags with its 95% interval: the same as ``bootstrap_map``."""
        low, high = np.percentile([_mean_known(row) for row in self.samples], [2.5, 97.5])
        return Interval(_mean_known(self.whole), float(low), float(high))

    def per_tag(self, columns: list[int]) -> list[Interval]:
        """Each of ``columns``' AP with its 95% interval, from the resamples that drew a positive
        of it (a resample without one says nothing about the tag)."""
        intervals = []
        for t in columns:
            known = self.samples[~np.isnan(self.samples[:, t]), t]
            low, high = np.percentile(known, [2.5, 97.5]) if len(known) else (0.0, 0.0)
            whole = 0.0 if np.isnan(self.whole[t]) else float(self.whole[t])
            intervals.append(Interval(whole, float(low), float(high)))
        return intervals


def supported(labels: np.ndarray, tags: list[str], min_support: int) -> tuple[list[int], dict[str, int]]:
    """Columns with enough positive photos to be judged, and the others with their count."""
    support = labels.sum(axis=0).astype(int)
    judged = [i for i, n in enumerate(support) if n >= min_support]
    short = {tags[i]: int(n) for i, n in enumerate(support) if n < min_support}
    return judged, short


def judge(
    *,
    labels: np.ndarray,
    tags: list[str],
    candidate_scores: np.ndarray,
    active_scores: np.ndarray | None,
    active_tags: list[str],
    unseen_by_active: np.ndarray | None = None,
    tolerance: float,
    min_map: float,
    min_support: int = 5,
    resamples: int = 300,
) -> Verdict:
    judged, short = supported(labels, tags, min_support)
    numbers: dict[str, Any] = {
        "photos": len(labels),
        "judged_tags": len(judged),
        "too_little_support": short,
    }
    if not judged:
        return Verdict(
            False,
            f"no tag has {min_support} validation photos yet, so the candidate cannot be judged"
            + (f" ({_named(short)})" if short else ""),
            numbers,
        )
    # One set of resamples for the pooled figure and each tag's own: the same draws as separate
    # bootstraps with the same seed would make, for half the work.
    drawn = Resampled.draw(labels[:, judged], candidate_scores[:, judged], resamples=resamples)
    overall = drawn.pooled()
    numbers |= {"candidate_map": overall.to_dict(), "min_map": min_map, "tolerance": tolerance}
    comparison = _comparable(labels, tags, judged, active_scores, active_tags, unseen_by_active, min_support)
    # Tags a trained active model serves are never held back: their fate is the comparison, or,
    # with too few new photos to compare them, the pooled figure.
    known = set(active_tags) if active_scores is not None else set()
    on_their_own = [i for i in judged if tags[i] not in known]
    proven, held = _judged_alone(tags, drawn, [judged.index(i) for i in on_their_own], judged, min_map)
    held_back = tuple([*held, *(tag for tag in short if tag not in known)])
    numbers["judged_alone"] = {tag: iv.to_dict() for tag, iv in (proven | held).items()}
    numbers["held_back"] = {tag: iv.to_dict() for tag, iv in held.items()}  # short ones: too_little_support
    notes = _notes(held, short, min_map)
    if comparison is None:
        numbers["compared_with_active"] = False
        pooled = f"mAP {overall} over {len(judged)} tags"
        if overall.low < min_map:
            return Verdict(
                False,
                f"{pooled} does not reach the minimum {min_map:.3f} by its lower bound{notes}",
                numbers,
                held_back,
            )
        if all(tags[i] in held for i in judged):
            reason = f"{pooled}, but no tag reaches the minimum {min_map:.3f} on its own{notes}"
            return Verdict(False, reason, numbers, held_back)
        return Verdict(
            True, f"{pooled} reaches the minimum {min_map:.3f} by its lower bound{notes}", numbers, held_back
        )
    rows, ours, theirs = comparison
    assert active_scores is not None
    y = labels[rows][:, ours]
    mine, other = candidate_scores[rows][:, ours], active_scores[rows][:, theirs]
    difference = bootstrap_map(y, mine, resamples=resamples, against=other)
    candidate_shared = mean_average_precision(mine, y)
    active_shared = mean_average_precision(other, y)
    numbers |= {
        "compared_with_active": True,
        "compared_photos": len(rows),
        "shared_tags": len(ours),
        "candidate_map_shared": round(candidate_shared, 4),
        "active_map_shared": round(active_shared, 4),
        "difference": difference.to_dict(),
    }
    where = f"on {len(ours)} shared tags and {len(rows)} photos the active model never trained on"
    if difference.value < -tolerance or difference.high < 0:
        return Verdict(
            False,
            f"mAP {candidate_shared:.3f} vs the active model's {active_shared:.3f} {where}: "
            f"difference {difference} is worse"
            + (f" by more than {tolerance:.3f}" if difference.value < -tolerance else ", significantly")
            + notes,
            numbers,
            held_back,
        )
    return Verdict(
        True,
        f"mAP {candidate_shared:.3f} vs the active model's {active_shared:.3f} {where}: "
        f"difference {difference}{notes}",
        numbers,
        held_back,
    )


def _judged_alone(
    tags: list[str], drawn: Resampled, positions: list[int], judged: list[int], min_map: float
) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """The tags judged on their own (``positions`` among the ``judged`` columns ``drawn`` holds),
    split into those whose AP reaches ``min_map`` by its lower bound and those held back."""
    intervals = drawn.per_tag(positions)
    named = [tags[judged[p]] for p in positions]
    proven = {tag: iv for tag, iv in zip(named, intervals, strict=True) if iv.low >= min_map}
    held = {tag: iv for tag, iv in zip(named, intervals, strict=True) if iv.low < min_map}
    return proven, held


def _notes(held: dict[str, Interval], short: dict[str, int], min_map: float) -> str:
    notes = ""
    if held:
        listed = ", ".join(f"{tag} AP {iv}" for tag, iv in list(held.items())[:5])
        more = f" and {len(held) - 5} more" if len(held) > 5 else ""
        notes += f"; held back until they reach {min_map:.3f} on their own: {listed}{more}"
    if short:
        notes += f"; too little support, held back: {_named(short)}"
    return notes


def _comparable(
    labels: np.ndarray,
    tags: list[str],
    judged: list[int],
    active_scores: np.ndarray | None,
    active_tags: list[str],
    unseen: np.ndarray | None,
    min_support: int,
) -> tuple[np.ndarray, list[int], list[int]] | None:
    """The photos and the shared tags (our columns, the active model's) to compare on, or None
    when nothing can be compared fairly."""
    if active_scores is None:
        return None
    rows = np.flatnonzero(unseen if unseen is not None else np.ones(len(labels), dtype=bool))
    known = {tag: i for i, tag in enumerate(active_tags)}
    pairs = [(i, known[tags[i]]) for i in judged if tags[i] in known and labels[rows, i].sum() >= min_support]
    if not pairs or not len(rows):
        return None
    return rows, [a for a, _ in pairs], [b for _, b in pairs]


def _named(counts: dict[str, int]) -> str:
    listed = ", ".join(f"{tag} ({n})" for tag, n in list(counts.items())[:5])
    return listed + (f" and {len(counts) - 5} more" if len(counts) > 5 else "")
