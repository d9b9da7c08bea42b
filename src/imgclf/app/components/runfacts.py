"""What the app needs to know about a run (read through :class:`~imgclf.engine.run.Run`): metrics, history,
chance level, and a verdict in plain words."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from imgclf.engine.run import BundleError, Run

T = TypeVar("T")

__all__ = [
    "Verdict",
    "chance_level",
    "load_history",
    "load_metrics",
    "load_predictions",
    "read_run",
    "trained_accuracy",
    "verdict_of",
    "wilson_interval",
]

NEAR_CHANCE_SHARE = 0.25  # below chance + a quarter of the way to 100 %, a model has learned little


def read_run(run: Path, read: Callable[[Run], T], default: T) -> T:
    """``read(Run(run))``, or ``default`` when that part of the run is missing or damaged."""
    try:
        found = read(Run(run))
    except BundleError:
        return default
    return default if found is None else found


def load_metrics(run: Path) -> dict[str, Any] | None:
    """What ``imgclf evaluate`` measured, or ``None`` when the run was not evaluated (or the file is damaged)."""
    return read_run(run, lambda r: r.metrics, None)


def _frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    """CSV rows as a frame, numbers as numbers (text columns stay text)."""
    frame = pd.DataFrame(rows)
    for column in frame:
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().any() or frame[column].eq("").all():
            frame[column] = converted
    return frame


def load_history(run: Path) -> pd.DataFrame:
    """Loss and accuracy per epoch, both phases in a row (empty when not recorded)."""
    history = _frame(read_run(run, Run.history, []))
    if not history.empty:
        history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    return history


def load_predictions(run: Path) -> pd.DataFrame:
    """One row per evaluated image: path, true, predicted, confidence, correct, status, ood_score."""
    return _frame(read_run(run, Run.predictions, []))


def trained_accuracy(history: pd.DataFrame) -> float | None:
    """The validation accuracy of the weights the run kept (the epoch of lowest validation loss)."""
    if history.empty or "val_loss" not in history or history["val_loss"].isna().all():
        return None
    return float(history.loc[history["val_loss"].idxmin(), "val_accuracy"])


def chance_level(counts: Mapping[str, int]) -> float:
    """The accuracy of always answering the largest class of ``counts`` (images per class)."""
    total = sum(counts.values())
    return max(counts.values()) / total if total else 0.0


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of an accuracy of ``correct`` out of ``n``."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """An accuracy set against chance and its sample size, in plain words."""

    accuracy: float
    n: int
    chance: float
    n_classes: int

    @property
    def near_chance(self) -> bool:
        """True when the model is barely better than always guessing the largest class."""
        return self.accuracy < self.chance + NEAR_CHANCE_SHARE * (1 - self.chance)

    @property
    def interval(self) -> tuple[float, float]:
        """Where the true accuracy likely lies (95 %), given the sample size."""
        return wilson_interval(round(self.accuracy * self.n), self.n)

    def chance_sentence(self) -> str:
        """E.g. ``Chance is 50% (always answering the largest of 2 classes).``"""
        return f"Chance is {self.chance:.0%} (always answering the largest of {self.n_classes} classes)."

    def interval_sentence(self) -> str:
        """E.g. ``With 18 images, the true accuracy likely lies between 80% and 99%.``"""
        low, high = self.interval
        images = "1 image" if self.n == 1 else f"{self.n:,} images"
        return f"With {images}, the true accuracy likely lies between {low:.0%} and {high:.0%} (95% interval)."


def verdict_of(metrics: Mapping[str, Any]) -> Verdict | None:
    """The verdict of an evaluation (``None`` when the metrics lack the accuracy)."""
    test = metrics.get("test") or {}
    if "accuracy" not in test:
        return None
    classes = list(metrics.get("classes") or [])
    per_class = test.get("per_class") or {}
    counts = {name: int((per_class.get(name) or {}).get("support", 0)) for name in classes}
    chance = chance_level(counts) if sum(counts.values()) else 1 / max(len(classes), 1)
    return Verdict(float(test["accuracy"]), int(test.get("n", 0)), chance, len(classes))
