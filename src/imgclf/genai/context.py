"""What a run knows about its classes: names, calibration, and the confusions seen in evaluation.

Reads the run's classes, calibration and evaluation confusion matrix (rows = true class) through
:class:`imgclf.engine.run.Run`. Every part is optional: a run without evaluation, or no run at all, gives a
context that says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imgclf.engine.predictor import Prediction
from imgclf.engine.run import BundleError, Run

__all__ = ["Confusion", "RunContext", "load_run_context"]


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


def _matrix(run: Run) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], str]:
    try:
        found = run.confusion()
    except BundleError:
        return (), (), "The run's evaluation results are damaged; evaluate the run again to see known confusions."
    if found is None:
        return (), (), "The run has not been evaluated yet; evaluating it adds known confusions."
    labels, counts = found
    return labels, tuple(tuple(int(n) for n in row) for row in counts), ""


def load_run_context(run_dir: Path | None, prediction: Prediction) -> RunContext:
    """The context of ``run_dir``; without a run, the class names come from the prediction."""
    fallback = tuple(name for name, _ in prediction.top_k)
    if run_dir is None:
        return RunContext(classes=fallback, note="No trained run was given, so confusions are unknown.")
    run = Run(run_dir)
    try:
        classes, calibrated = run.classes, run.calibration is not None
    except BundleError:
        classes, calibrated = fallback, False
    labels, counts, note = _matrix(run)
    return RunContext(classes=classes, calibrated=calibrated, matrix_labels=labels, counts=counts, note=note)
