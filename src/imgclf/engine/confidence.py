"""How much to trust a prediction: temperature scaling, a confidence threshold and an OOD score.

The values are fitted by evaluation (``imgclf evaluate``) and stored in the run's calibration
(:attr:`imgclf.engine.run.Run.calibration`); every prediction path (CLI, Python, app) applies them through
:class:`ConfidencePolicy`. The calibration holds ``temperature``, ``threshold`` (and its validation
``threshold_coverage``, ``threshold_accuracy``, ``target_accuracy``, ``threshold_met``), ``ood_threshold`` and
``ood_auroc``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from imgclf.engine.conformal import ConformalSets
from imgclf.errors import ImgclfError

__all__ = ["ConfidencePolicy", "apply_temperature"]


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale softmax probabilities as if their logits were divided by ``temperature``."""
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class ConfidencePolicy:
    """Calibration and flagging rules of a run. The defaults change nothing and flag nothing."""

    temperature: float = 1.0
    threshold: float | None = None
    ood_threshold: float | None = None
    conformal: ConformalSets | None = None

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None) -> ConfidencePolicy:
        """The policy of a run's calibration (``Run.calibration``), or the neutral one when not calibrated."""
        if not data:
            return cls()
        return cls(
            temperature=float(data.get("temperature", 1.0)),
            threshold=data.get("threshold"),
            ood_threshold=data.get("ood_threshold"),
            conformal=ConformalSets(tuple(data["conformal_scores"])) if data.get("conformal_scores") else None,
        )

    def require_sets(self, coverage: float) -> None:
        """Raise a clear error when prediction sets at ``coverage`` cannot be made for this run."""
        if not 0 < coverage < 1:
            raise ImgclfError(f"Set coverage {coverage} must be between 0 and 1, e.g. 0.9.")
        if self.conformal is None:
            raise ImgclfError("This run has no conformal calibration; run 'imgclf evaluate RUN' first.")

    def prediction_set(self, probs: np.ndarray, coverage: float) -> tuple[int, ...]:
        """Class indices of the conformal set of one row of calibrated probabilities, most probable first."""
        self.require_sets(coverage)
        return self.conformal.sets(np.asarray(probs)[None], coverage)[0]

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return probs if self.temperature == 1.0 else apply_temperature(probs, self.temperature)

    def status(self, confidence: float, ood_score: float | None, threshold: float | None = None) -> str:
        """``unfamiliar`` (OOD), ``uncertain`` (below threshold) or ``ok``; ``threshold`` overrides the stored one."""
        if ood_score is not None and self.ood_threshold is not None and ood_score > self.ood_threshold:
            return "unfamiliar"
        limit = self.threshold if threshold is None else threshold
        if limit is not None and confidence < limit:
            return "uncertain"
        return "ok"
