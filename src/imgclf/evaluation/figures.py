"""Draw every evaluation plot of one run from its metrics and evidence; returns name -> PNG path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.data.decode import DecodeError, decode_image
from imgclf.evaluation import plots
from imgclf.evaluation.calibration import Reliability
from imgclf.evaluation.evidence import Evidence
from imgclf.evaluation.plots import GridItem
from imgclf.evaluation.suspects import Suspect
from imgclf.evaluation.thresholds import risk_coverage

__all__ = ["PLOT_TITLES", "draw_all"]

THUMB = 160
GRID_SIZE = 20
PLOT_TITLES = {
    "training_curves": "Training curves",
    "class_distribution": "Class distribution",
    "confusion_matrix": "Confusion matrix",
    "per_class_accuracy": "Per-class accuracy",
    "reliability": "Reliability diagram",
    "risk_coverage": "Risk-coverage curve",
    "ood_scores": "OOD scores",
    "confident_errors": "Most confidently wrong images",
    "outside_predictions": "Predictions on images from elsewhere",
    "suspects": "Suspect training images",
}


def _thumb(path: str) -> np.ndarray:
    try:
        return decode_image(path, THUMB)
    except DecodeError:
        return np.full((THUMB, THUMB, 3), 200, np.uint8)


def _error_items(ev: Evidence, classes: Sequence[str]) -> list[GridItem]:
    wrong = np.flatnonzero(~ev.correct)
    conf = ev.test_probs.max(axis=1)
    items = []
    for i in wrong[np.argsort(-conf[wrong])][:GRID_SIZE]:
        caption = (
            Path(ev.test.sources[i]).name,
            f"true: {classes[ev.test.labels[i]]}",
            f"predicted: {classes[int(ev.test_probs[i].argmax())]} ({conf[i]:.0%})",
        )
        items.append(GridItem(_thumb(ev.test.sources[i]), caption, "firebrick"))
    return items


def _outside_items(ev: Evidence, classes: Sequence[str]) -> list[GridItem]:
    items = []
    for name, px, p, o in zip(ev.outside.names, ev.outside.pixels, ev.outside.probs, ev.outside.ood, strict=True):
        status = ev.policy.status(float(p.max()), float(o))
        caption = (
            name.rsplit(".", 1)[-1] if name.startswith("skimage.") else Path(name).name,
            f"{classes[int(p.argmax())]} ({p.max():.0%})",
            f"{status} (OOD {o:.2f})",
        )
        items.append(GridItem(px, caption, "darkgreen" if status != "ok" else "firebrick"))
    return items[:GRID_SIZE]


def _suspect_items(suspects: Sequence[Suspect]) -> list[GridItem]:
    return [
        GridItem(
            _thumb(s.source),
            (
                f"#{rank} {Path(s.source).name}",
                f"given: {s.given}",
                f"suggested: {s.suggested}",
                "out of place?" if s.reason.startswith("unlike") else "mislabelled?",
            ),
            "darkorange",
        )
        for rank, s in enumerate(suspects[:GRID_SIZE], start=1)
    ]


def draw_all(folder: Path, metrics: dict[str, Any], ev: Evidence) -> dict[str, Path]:
    """Write every plot under ``folder`` and return their paths by name (keys of :data:`PLOT_TITLES`)."""
    classes = metrics["classes"]
    cal = metrics["calibration"]
    return {
        "training_curves": plots.training_curves(ev.history, folder / "training_curves.png"),
        "class_distribution": plots.class_distribution(
            metrics["split_counts"], classes, folder / "class_distribution.png"
        ),
        "confusion_matrix": plots.confusion_heatmap(
            metrics["test"]["confusion_matrix"], classes, folder / "confusion_matrix.png"
        ),
        "per_class_accuracy": plots.per_class_accuracy(metrics["test"]["per_class"], folder / "per_class_accuracy.png"),
        "reliability": plots.reliability_diagram(
            Reliability(**cal["reliability_before"]),
            Reliability(**cal["reliability_after"]),
            cal["temperature"],
            folder / "reliability.png",
        ),
        "risk_coverage": plots.risk_coverage_plot(
            risk_coverage(ev.val_probs.max(axis=1), ev.val_probs.argmax(axis=1) == ev.val.labels),
            ev.choice,
            folder / "risk_coverage.png",
        ),
        "ood_scores": plots.ood_histogram(
            ev.test_ood, ev.outside.ood, ev.policy.ood_threshold, metrics["ood"]["auroc"], folder / "ood_scores.png"
        ),
        "confident_errors": plots.image_grid(
            _error_items(ev, classes),
            "Most confidently wrong evaluation images",
            folder / "confident_errors.png",
            empty="No misclassified evaluation images.",
        ),
        "outside_predictions": plots.image_grid(
            _outside_items(ev, classes), "Predictions on images from elsewhere", folder / "outside_predictions.png"
        ),
        "suspects": plots.image_grid(
            _suspect_items(ev.suspects),
            "Suspect training images (most suspect first)",
            folder / "suspects.png",
            empty="Not enough training images to rank suspects.",
        ),
    }
