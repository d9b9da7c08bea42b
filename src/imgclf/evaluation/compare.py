"""Two evaluated runs side by side: metrics, what changed in their data and predictions, and which to keep.

Typically run A was trained before review and run B after ("Retrain with corrections"). Both runs'
evaluation predictions are re-scored on the images they share, against today's labels (the newer run's
labels with the dataset's current review corrections), so a corrected label counts the same for both.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from imgclf.data.corrections import Corrections
from imgclf.engine.run import BundleError, Run
from imgclf.evaluation.inputs import run_corrections

__all__ = ["DataChange", "ImageChange", "RunComparison", "compare_runs"]

# (name shown, key path in eval/metrics.json)
METRICS = (
    ("evaluated images", ("test", "n")),
    ("accuracy", ("test", "accuracy")),
    ("balanced accuracy", ("test", "balanced_accuracy")),
    ("macro F1", ("test", "f1_macro")),
    ("log loss", ("test", "loss")),
    ("calibration error (ECE)", ("calibration", "ece_after")),
    ("OOD AUROC", ("ood", "auroc")),
)


@dataclasses.dataclass(frozen=True)
class ImageChange:
    """An evaluation image whose prediction (or label) differs between the runs; ``label`` is today's label."""

    path: str
    label: str
    predicted_a: str
    predicted_b: str

    @property
    def verdict(self) -> str:
        """``fixed``, ``broken``, ``still wrong`` or ``relabelled`` (same prediction, right in both)."""
        right_a, right_b = self.predicted_a == self.label, self.predicted_b == self.label
        if right_a != right_b:
            return "fixed" if right_b else "broken"
        return "relabelled" if right_a else "still wrong"


@dataclasses.dataclass(frozen=True)
class DataChange:
    """An image whose label differs between the runs' data (``""`` when absent from that run)."""

    path: str
    split: str
    label_a: str
    label_b: str


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """What :func:`compare_runs` found, and the run it recommends keeping (``keep`` is ``run_a`` or ``run_b``)."""

    run_a: Path
    run_b: Path
    metrics: tuple[tuple[str, Any, Any], ...]
    shared: int
    right_a: int
    right_b: int
    changed: tuple[ImageChange, ...]
    data_changes: tuple[DataChange, ...]
    keep: Path
    reason: str
    dataset: Path | None = None

    def short(self, path: str) -> str:
        """``path`` relative to run B's dataset folder when it lies inside."""
        if self.dataset is not None and os.path.abspath(path).startswith(os.path.abspath(self.dataset) + os.sep):
            return os.path.relpath(path, self.dataset)
        return path

    def format(self) -> str:
        """A terminal report: metrics, data changes, changed predictions, recommendation."""
        a, b = f"A: {self.run_a.name}", f"B: {self.run_b.name}"
        width = max(len(name) for name, _, _ in self.metrics)
        lines = [f"{'metric':<{width}}  {a:<16}  {b}"]
        lines += [f"{name:<{width}}  {_fmt(va):<16}  {_fmt(vb)}" for name, va, vb in self.metrics]
        lines += ["", f"Shared evaluation images: {self.shared}; right today: A {self.right_a}, B {self.right_b}."]
        lines.append(f"\nData changes between the runs ({len(self.data_changes)}):")
        lines += [f"  {d.split:<5} {self.short(d.path)}: {d.label_a or '(absent)'} -> {d.label_b or '(absent)'}"
                  for d in self.data_changes]  # fmt: skip
        lines.append(f"\nPredictions that changed ({len(self.changed)}):")
        lines += [f"  {c.verdict:<11} {self.short(c.path)}: label {c.label}, A {c.predicted_a}, B {c.predicted_b}"
                  for c in self.changed]  # fmt: skip
        lines += ["", f"Keep {'B' if self.keep == self.run_b else 'A'} ({self.keep}): {self.reason}"]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _lookup(data: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _evaluation(run: Run) -> tuple[dict, dict[str, dict[str, str]]]:
    """The run's evaluation metrics and its per-image predictions by path; refuse a run not evaluated."""
    metrics, rows = run.metrics, run.predictions()
    if metrics is None or not rows:
        raise BundleError(
            f"Run '{run.path}' has not been evaluated; run `imgclf evaluate {run.path}` first, then compare."
        )
    return metrics, {row["path"]: row for row in rows}


def _data_changes(run_a: Run, run_b: Run) -> list[DataChange]:
    """Images whose label differs between the two runs' splits (relabelled, excluded or added)."""
    splits_a, splits_b = run_a.splits(), run_b.splits()
    changes = []
    for split in ("train", "val", "test"):
        labels_a = {str(p): label for p, label in splits_a.get(split, [])}
        labels_b = {str(p): label for p, label in splits_b.get(split, [])}
        for path in sorted(labels_a.keys() | labels_b.keys()):
            if labels_a.get(path) != labels_b.get(path):
                changes.append(DataChange(path, split, labels_a.get(path, ""), labels_b.get(path, "")))
    return changes


@dataclasses.dataclass(frozen=True)
class _Score:
    shared: int
    right_a: int
    right_b: int
    loss_a: float | None  # log losses, only when both runs measured exactly the shared images with today's labels
    loss_b: float | None


def _recommend(a: Path, b: Path, score: _Score) -> tuple[Path, str]:
    """The run to keep: more shared images right; on a tie, the lower log loss when it is comparable."""
    s = score
    if not s.shared:
        return b, "the runs share no evaluation images, so only their own metrics above can be compared."
    if s.right_a != s.right_b:
        better, worse, keep = ("A", "B", a) if s.right_a > s.right_b else ("B", "A", b)
        most, least = max(s.right_a, s.right_b), min(s.right_a, s.right_b)
        return keep, f"{better} is right on {most} of the {s.shared} shared images, {worse} on {least}."
    tie = f"both are right on {s.right_a} of the {s.shared} shared images"
    if s.loss_a is not None and s.loss_b is not None and s.loss_a != s.loss_b:
        name, keep, low, high = ("A", a, s.loss_a, s.loss_b) if s.loss_a < s.loss_b else ("B", b, s.loss_b, s.loss_a)
        return keep, f"{tie}, and {name}'s log loss is lower ({low:.4f} vs {high:.4f}): it is surer when right."
    return b, f"{tie}; B learned from the corrected labels."


def _changes(rows_a: dict, rows_b: dict, book: Corrections | None) -> tuple[list[ImageChange], int, int, int, bool]:
    """Changed images, shared count, right counts of A and B against today's labels, and whether a label moved."""
    changed, right_a, right_b, shared, relabelled = [], 0, 0, 0, False
    for path in sorted(rows_a.keys() & rows_b.keys()):
        label = book.corrected_label(path, rows_b[path]["true"]) if book else rows_b[path]["true"]
        if label is None:
            relabelled = True
            continue
        shared += 1
        pred_a, pred_b = rows_a[path]["predicted"], rows_b[path]["predicted"]
        right_a, right_b = right_a + (pred_a == label), right_b + (pred_b == label)
        relabelled = relabelled or label != rows_a[path]["true"] or label != rows_b[path]["true"]
        if pred_a != pred_b or rows_a[path]["true"] != label:
            changed.append(ImageChange(path, label, pred_a, pred_b))
    return changed, shared, right_a, right_b, relabelled


def compare_runs(run_a: str | Path, run_b: str | Path) -> RunComparison:
    """Compare two evaluated runs (A the baseline, B the candidate) and recommend which to keep."""
    a, b = Run.open(run_a), Run.open(run_b)
    (metrics_a, rows_a), (metrics_b, rows_b) = _evaluation(a), _evaluation(b)
    book = run_corrections(b)
    changed, shared, right_a, right_b, relabelled = _changes(rows_a, rows_b, book)
    comparable = not relabelled and len(rows_a) == len(rows_b) == shared
    losses = [_lookup(m, ("test", "loss")) if comparable else None for m in (metrics_a, metrics_b)]
    keep, reason = _recommend(a.path, b.path, _Score(shared, right_a, right_b, *losses))
    return RunComparison(
        run_a=a.path,
        run_b=b.path,
        metrics=tuple((name, _lookup(metrics_a, keys), _lookup(metrics_b, keys)) for name, keys in METRICS),
        shared=shared,
        right_a=right_a,
        right_b=right_b,
        changed=tuple(changed),
        data_changes=tuple(_data_changes(a, b)),
        keep=keep,
        reason=reason,
        dataset=book.base if book else None,
    )
