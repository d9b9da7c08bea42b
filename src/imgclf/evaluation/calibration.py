"""Temperature scaling fitted on validation, expected calibration error, and the reliability-diagram bins."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from imgclf.engine.confidence import apply_temperature
from imgclf.evaluation.metrics import normalize_rows

__all__ = ["Reliability", "fit_temperature", "nll", "reliability"]

DEFAULT_BINS = 15
_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


@dataclasses.dataclass(frozen=True)
class Reliability:
    """Equal-width confidence bins: mean confidence, accuracy and count per bin, and the ECE."""

    edges: tuple[float, ...]
    confidence: tuple[float | None, ...]
    accuracy: tuple[float | None, ...]
    count: tuple[int, ...]
    ece: float

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


def nll(y_true: Sequence[int], probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = normalize_rows(probs)[np.arange(len(y_true)), np.asarray(y_true, dtype=int)]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


PRIOR_STRENGTH = 20.0  # pseudo-observations pulling the temperature towards 1 (see fit_temperature)


def fit_temperature(y_true: Sequence[int], probs: np.ndarray, prior_strength: float = PRIOR_STRENGTH) -> float:
    """The temperature (0.05 to 20) that minimises the NLL of ``probs`` on ``y_true`` (1.0 when empty).

    A small validation split can be fitted too well (all correct: the NLL keeps falling as the temperature
    goes to 0), so the fit is shrunk towards 1.0 by a penalty ``prior_strength * log(T)^2 / n`` that fades as
    the split grows.
    """
    if len(y_true) == 0:
        return 1.0
    probs = normalize_rows(probs)
    weight = prior_strength / len(y_true)
    result = minimize_scalar(
        lambda log_t: nll(y_true, apply_temperature(probs, float(np.exp(log_t)))) + weight * log_t**2,
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(result.x))
    # Never return a temperature that fits worse than leaving the model alone (by NLL or by ECE).
    scaled = apply_temperature(probs, temperature)
    better_nll = nll(y_true, scaled) < nll(y_true, probs)
    better_ece = reliability(y_true, scaled).ece <= reliability(y_true, probs).ece
    return temperature if better_nll and better_ece else 1.0


def reliability(y_true: Sequence[int], probs: np.ndarray, n_bins: int = DEFAULT_BINS) -> Reliability:
    """Bin the top-1 confidences; ECE = sum over bins of (bin share) * |accuracy - confidence|."""
    probs = normalize_rows(probs)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true, dtype=int)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    mean_conf, acc, count, ece = [], [], [], 0.0
    for b in range(n_bins):
        mask = bins == b
        n = int(mask.sum())
        count.append(n)
        mean_conf.append(float(conf[mask].mean()) if n else None)
        acc.append(float(correct[mask].mean()) if n else None)
        if n:
            ece += n / len(conf) * abs(acc[-1] - mean_conf[-1])
    return Reliability(tuple(float(e) for e in edges), tuple(mean_conf), tuple(acc), tuple(count), float(ece))
