"""Which fold a photo is validated in: from a stable key (its group's content hash), so the same
photo lands in the same fold in every run and copies of it share one."""

from __future__ import annotations

import hashlib

import numpy as np

FOLDS = 5


def fold_of(keys: list[str], folds: int = FOLDS) -> np.ndarray:
    # Hashed again: keys need not be hashes themselves, nor spread in their first digits.
    return np.array(
        [int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % folds for key in keys], dtype=np.int64
    )
