"""What a run knows about its classes: names, calibration, and the confusions seen in evaluation.

Reads ``RUN/labels.json``, ``RUN/calibration.json`` and ``RUN/eval/metrics.json`` (its
``confusion_matrix`` entry: ``{"labels": [...], "counts": [[...]]}``, rows = true class). Every part is
optional: a run without evaluation, or no run at all, gives a context that says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imgclf.engine.bundle import BundleError, read_json
from imgclf.engine.predictor import Prediction

__all__ = ["Confusion", "RunContext", "load_run_context"]

METRICS_FILE = Path("eval") / "metrics.json"
# Shown to users (no file paths, no exception names):
NOT_EVALUATED = "The run has not been evaluated yet, so its confusions are unknown (evaluate it on the Model page)."
UNREADABLE = "The run's evaluation has no readable confusion matrix, so its confusions are unknown; evaluate it again."


@dataclasses.dataclass(frozen=True)
class Confusion:
    """How often ``label`` and ``other`` were mixed up in evaluation."""

    other: str
    label_as_other: int
    other_as_label: int


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Class names, calibration and the evaluation confusion matrix of a run (when known)."""

    classes: tuple[str, ...]
    calibrated: bool = False
    matrix_labels: tuple[str, ...] = ()
    counts: tuple[tuple[int, ...], ...] = ()
    note: str = ""

    @property
    def accuracy(self) -> float | None:
        """Test accuracy from the confusion matrix, or ``None`` without evaluation."""
        total = sum(map(sum, self.counts))
        return sum(self.counts[i][i] for i in range(len(self.counts))) / total if total else None

    def support(self, label: str) -> int:
        """How many evaluation images truly belong to ``label``."""
        if label not in self.matrix_labels:
            return 0
        return sum(self.counts[self.matrix_labels.index(label)])

    def confusions(self, label: str, top: int = 3) -> list[Confusion]:
        """The classes most often mixed up with ``label`` (both directions), most frequent first."""
        if label not in self.matrix_labels:
            return []
        i = self.matrix_labels.index(label)
        found = [
            Confusion(other, self.counts[i][j], self.counts[j][i])
            for j, other in enumerate(self.matrix_labels)
            if j != i and self.counts[i][j] + self.counts[j][i] > 0
        ]
        found.sort(key=lambda c: (-(c.label_as_other + c.other_as_label), c.other))
        return found[:top]


def _matrix(run: Path) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], str]:
    path = run / METRICS_FILE
    if not path.is_file():
        return (), (), NOT_EVALUATED
    try:
        cm = read_json(path)["confusion_matrix"]
        labels = tuple(str(name) for name in cm["labels"])
        counts = tuple(tuple(int(n) for n in row) for row in cm["counts"])
    except (BundleError, KeyError, TypeError, ValueError):
        return (), (), UNREADABLE
    if len(counts) != len(labels) or any(len(row) != len(labels) for row in counts):
        return (), (), UNREADABLE
    return labels, counts, ""


def load_run_context(run_dir: Path | None, prediction: Prediction) -> RunContext:
    """The context of ``run_dir``; without a run, the class names come from the prediction."""
    fallback = tuple(name for name, _ in prediction.top_k)
    if run_dir is None:
        return RunContext(classes=fallback, note="No run folder was given, so confusions are unknown.")
    run = Path(run_dir)
    try:
        classes = tuple(read_json(run / "labels.json")["classes"])
    except (BundleError, KeyError, TypeError):
        classes = fallback
    labels, counts, note = _matrix(run)
    calibrated = (run / "calibration.json").is_file()
    return RunContext(classes=classes, calibrated=calibrated, matrix_labels=labels, counts=counts, note=note)
