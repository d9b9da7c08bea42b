"""Split-conformal prediction sets (adaptive prediction sets, APS) with a finite-sample coverage guarantee.

Calibration (``imgclf evaluate``) stores one conformity score per calibration image: the probability mass of
the classes ranked at or above the true class. For a coverage ``1 - alpha``, the set of an image is its most
probable classes, in order, while their mass stays within the ``ceil((n + 1)(1 - alpha)) / n`` quantile of
those scores (at least one class). When calibration and new images are exchangeable, the set holds the true
class with probability at least ``1 - alpha`` (Romano, Sesia and Candès, 2020; the non-randomised form).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["ConformalSets", "aps_scores"]


def aps_scores(probs: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """The conformity score of each row: total probability of the classes ranked at or above its label."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    true = probs[np.arange(len(labels)), labels]
    # Ties go against the true class (counted above it), which keeps the guarantee.
    return np.where(probs >= true[:, None], probs, 0.0).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class ConformalSets:
    """Prediction sets from sorted calibration scores; :meth:`sets` works for any coverage level."""

    scores: tuple[float, ...]

    @classmethod
    def fit(cls, probs: np.ndarray, labels: Sequence[int]) -> ConformalSets:
        """Calibrate on calibrated probabilities and true labels of images the model did not train on."""
        return cls(tuple(float(s) for s in np.sort(aps_scores(probs, labels))))

    def quantile(self, coverage: float) -> float:
        """The score below which a set stops growing; ``inf`` (every class) when there are too few scores."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage {coverage} must be between 0 and 1 (exclusive), e.g. 0.9.")
        n = len(self.scores)
        rank = math.ceil((n + 1) * coverage)
        return math.inf if rank > n else self.scores[rank - 1]

    def min_coverage_met(self, coverage: float) -> bool:
        """Whether there are enough calibration scores for a set smaller than every class at ``coverage``."""
        return math.isfinite(self.quantile(coverage))

    def sets(self, probs: np.ndarray, coverage: float) -> list[tuple[int, ...]]:
        """For each row of probabilities, the class indices of its set, most probable first."""
        limit = self.quantile(coverage)
        probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        order = np.argsort(-probs, axis=1, kind="stable")
        mass = np.cumsum(np.take_along_axis(probs, order, axis=1), axis=1)
        # A class belongs to the set when its score (the mass up to and including it) is within the limit;
        # the most probable class always does, so no set is empty.
        sizes = np.maximum((mass <= limit + 1e-9).sum(axis=1), 1)
        return [tuple(int(c) for c in row[:k]) for row, k in zip(order, sizes, strict=True)]
