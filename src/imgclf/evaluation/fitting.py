"""What evaluation fits on the calibration images: temperature, confidence threshold, OOD threshold, conformal sets.

The calibration images are the run's validation split. When a run has no test split, the validation split is
halved (stratified, deterministic): one half calibrates, the other is judged, so no figure is ever measured on
the images that fitted it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imgclf.engine.confidence import ConfidencePolicy
from imgclf.engine.conformal import ConformalSets
from imgclf.engine.ood import KnnOOD
from imgclf.evaluation.calibration import fit_temperature
from imgclf.evaluation.inputs import Embedded
from imgclf.evaluation.thresholds import ThresholdChoice, choose_threshold

__all__ = ["FALSE_UNFAMILIAR_RATE", "Fitted", "fit_policy", "ood_threshold", "split_calibration"]

# The share of familiar images allowed to be called unfamiliar: the OOD threshold is the conformal
# (1 - rate) quantile of the calibration images' scores, so on new images of the same kind at most this
# share is flagged, in expectation.
FALSE_UNFAMILIAR_RATE = 0.01


@dataclasses.dataclass(frozen=True)
class Fitted:
    """The confidence policy fitted on calibration images, with the threshold choice and calibrated probs."""

    policy: ConfidencePolicy
    choice: ThresholdChoice
    probs: np.ndarray


def _key(path: Path) -> str:
    return hashlib.sha1(str(path).encode("utf-8")).hexdigest()


def split_calibration(pairs: Sequence[tuple[Path, int]]) -> tuple[list, list]:
    """Halve labelled images per class, deterministically: ``(calibration, held_out)``."""
    calibration, held_out = [], []
    for label in sorted({lab for _, lab in pairs}):
        members = sorted((p for p in pairs if p[1] == label), key=lambda p: _key(p[0]))
        half = math.ceil(len(members) / 2)
        calibration += members[:half]
        held_out += members[half:]
    return calibration, held_out


def ood_threshold(scores: np.ndarray, rate: float = FALSE_UNFAMILIAR_RATE) -> float | None:
    """The split-conformal threshold: at most ``rate`` of new familiar images score above it (in expectation).

    With too few calibration images for that rate, the highest calibration score is used.
    """
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    if not len(scores):
        return None
    rank = min(math.ceil((len(scores) + 1) * (1 - rate)), len(scores))
    return float(scores[rank - 1])


def fit_policy(calibration: Embedded, bank: KnnOOD, target_accuracy: float) -> Fitted:
    """Temperature, confidence threshold, OOD threshold and conformal sets, all fitted on ``calibration``."""
    temperature = fit_temperature(calibration.labels, calibration.probs)
    probs = ConfidencePolicy(temperature).calibrate(calibration.probs)
    choice = choose_threshold(probs.max(axis=1), probs.argmax(axis=1) == calibration.labels, target_accuracy)
    policy = ConfidencePolicy(
        temperature,
        choice.threshold,
        ood_threshold(bank.score(calibration.features)),
        ConformalSets.fit(probs, calibration.labels) if len(calibration.labels) else None,
    )
    return Fitted(policy, choice, probs)
