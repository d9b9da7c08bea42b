"""The arrays one evaluation computes, handed from the evaluator to the plots in one object."""

from __future__ import annotations

import dataclasses

import numpy as np

from imgclf.engine.confidence import ConfidencePolicy
from imgclf.evaluation.inputs import Embedded
from imgclf.evaluation.suspects import Suspect
from imgclf.evaluation.thresholds import ThresholdChoice

__all__ = ["Evidence", "Outside"]


@dataclasses.dataclass(frozen=True)
class Outside:
    """Images from elsewhere: names, pixels, calibrated probabilities and OOD scores."""

    names: tuple[str, ...]
    pixels: np.ndarray
    probs: np.ndarray
    ood: np.ndarray


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Evaluation images (with calibrated probabilities and OOD scores), validation, outside images, policy."""

    test: Embedded
    test_probs: np.ndarray
    test_ood: np.ndarray
    val: Embedded
    val_probs: np.ndarray
    outside: Outside
    policy: ConfidencePolicy
    choice: ThresholdChoice
    suspects: tuple[Suspect, ...]
    history: tuple[dict[str, str], ...]

    @property
    def correct(self) -> np.ndarray:
        """Whether each evaluation image is classified correctly."""
        return self.test_probs.argmax(axis=1) == self.test.labels
