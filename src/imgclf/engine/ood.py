"""Out-of-distribution score: cosine distance from an embedding to its k-th nearest training embedding."""

from __future__ import annotations

import numpy as np

__all__ = ["KnnOOD"]


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class KnnOOD:
    """k-NN distance on L2-normalised penultimate features (higher = less like the training data)."""

    def __init__(self, train_features: np.ndarray, k: int = 5):
        if len(train_features) == 0:
            raise ValueError("KnnOOD needs at least one training embedding.")
        self.bank = _normalize(train_features)
        self.k = min(k, len(self.bank))

    def score(self, features: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
        """One score per row of ``features``: 1 - cosine similarity to the k-th nearest neighbour.

        ``exclude_self`` is for rows that are themselves in the bank (training images scored against the
        other training images): each row's own, nearest match is skipped.
        """
        k = min(self.k + int(exclude_self), len(self.bank))
        sims = _normalize(features) @ self.bank.T
        kth = np.partition(-sims, k - 1, axis=1)[:, k - 1]
        return 1.0 + kth
