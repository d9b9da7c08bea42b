"""Selective prediction: the risk-coverage curve and the confidence threshold that meets a target accuracy."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["RiskCoverage", "ThresholdChoice", "choose_threshold", "risk_coverage", "selective_scores"]


@dataclasses.dataclass(frozen=True)
class RiskCoverage:
    """Accuracy of the predictions kept at each confidence cut-off, most confident first."""

    threshold: np.ndarray
    coverage: np.ndarray
    accuracy: np.ndarray


@dataclasses.dataclass(frozen=True)
class ThresholdChoice:
    """A confidence threshold with the coverage and selective accuracy it gave on validation."""

    threshold: float
    coverage: float
    accuracy: float
    target: float
    met: bool

    def to_dict(self) -> dict[str, float | bool]:
        """The ``calibration.json`` fields."""
        return {
            "threshold": self.threshold,
            "threshold_coverage": self.coverage,
            "threshold_accuracy": self.accuracy,
            "target_accuracy": self.target,
            "threshold_met": self.met,
        }


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> RiskCoverage:
    """Keep the predictions with confidence >= each distinct cut-off; ties are kept or dropped together."""
    conf = np.asarray(confidence, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], np.asarray(correct, dtype=bool)[order]
    n = len(conf)
    if n == 0:
        return RiskCoverage(np.zeros(0), np.zeros(0), np.zeros(0))
    ends = np.flatnonzero(np.append(conf[1:] < conf[:-1], True))  # last index of each tie group
    kept = ends + 1
    return RiskCoverage(conf[ends], kept / n, np.cumsum(ok)[ends] / kept)


def _cut(conf_sorted_desc: np.ndarray, kept: int) -> float:
    """A threshold between the last kept and the first dropped confidence (robust to float noise)."""
    low = conf_sorted_desc[kept - 1]
    if kept < len(conf_sorted_desc):
        return float((low + conf_sorted_desc[kept]) / 2)
    return float(low * (1 - 1e-6))


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = 0.98) -> ThresholdChoice:
    """The lowest threshold whose kept predictions reach ``target`` accuracy (the most coverage).

    When no cut-off reaches the target, the one with the best selective accuracy (then the most coverage)
    is returned with ``met=False``. Predictions below the threshold are to be marked uncertain.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy {target} must be in (0, 1]; e.g. 0.98.")
    curve = risk_coverage(confidence, correct)
    if len(curve.coverage) == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, target, False)
    meets = np.flatnonzero(curve.accuracy >= target - 1e-12)
    met = bool(len(meets))
    best = int(meets[-1]) if met else int(np.flatnonzero(curve.accuracy == curve.accuracy.max())[-1])
    kept = round(curve.coverage[best] * len(np.asarray(confidence)))
    conf_sorted = np.sort(np.asarray(confidence, dtype=np.float64))[::-1]
    return ThresholdChoice(
        _cut(conf_sorted, kept), float(curve.coverage[best]), float(curve.accuracy[best]), target, met
    )


def selective_scores(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Coverage and accuracy of the predictions at or above ``threshold`` (e.g. on the test split)."""
    keep = np.asarray(confidence) >= threshold
    ok = np.asarray(correct, dtype=bool)
    return {
        "coverage": float(keep.mean()) if len(keep) else 0.0,
        "accuracy": float(ok[keep].mean()) if keep.any() else None,
        "uncertain": int((~keep).sum()),
    }
