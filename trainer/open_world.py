"""Which unlabelled photos can stand for "none of these": the background negatives of the open
world. NumPy only.

A photo nobody labelled may well show a taught kind (people tag some of their dresses, not all),
and as a negative it would teach the head to doubt every photo like it: measured on clothing10,
2,000 such photos as negatives cut the share of taught photos given the right tag from 0.69 to
0.16 at 10 labels per tag. So only photos unlike every taught tag join: for each tag, the
``quantile`` of how close its positives come to the nearest positive of another fold (a photo of
the tag the model has not seen) is the line; a background photo closer than that to any tag's
positives is left out. Kinds that look alike (a skirt and a dress) stay confusable: no rule can
tell an untaught look-alike from an untagged photo of the taught kind without someone's label.
"""

from __future__ import annotations

import numpy as np

# At most this many positives per tag are compared (a sample in row order beyond it).
POSITIVES_COMPARED = 2000


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)


def unlike_every_tag(
    candidates: np.ndarray,
    positives: list[tuple[np.ndarray, np.ndarray]],
    quantile: float,
) -> np.ndarray:
    """Which ``candidates`` (photos x dim) are farther from every tag's positives than that tag's
    own ``quantile`` line; ``positives`` holds each tag's (embeddings, folds)."""
    keep = np.ones(len(candidates), dtype=bool)
    if not len(candidates):
        return keep
    unit_candidates = _unit(candidates.astype(np.float32))
    for embeddings, folds in positives:
        if len(embeddings) < 2 or len(np.unique(folds)) < 2:
            continue
        embeddings, folds = embeddings[:POSITIVES_COMPARED], folds[:POSITIVES_COMPARED]
        unit = _unit(embeddings.astype(np.float32))
        within = unit @ unit.T
        within[folds[:, None] == folds[None, :]] = -1.0  # only positives of other folds count
        line = float(np.quantile(within.max(axis=1), quantile))
        keep &= (unit_candidates @ unit.T).max(axis=1) < line
    return keep
