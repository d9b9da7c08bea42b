"""Evaluation plots as PNG files (matplotlib's object API: no pyplot state, safe in threads and servers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from imgclf.evaluation.calibration import Reliability
from imgclf.evaluation.thresholds import RiskCoverage, ThresholdChoice

__all__ = [
    "GridItem",
    "class_distribution",
    "confusion_heatmap",
    "image_grid",
    "ood_histogram",
    "per_class_accuracy",
    "reliability_diagram",
    "risk_coverage_plot",
    "training_curves",
]

DPI = 110
TILE = 2.3  # inches per thumbnail of an image grid
PHASE_COLORS = ("tab:blue", "tab:orange")


@dataclasses.dataclass(frozen=True)
class GridItem:
    """One tile of an image grid: pixels, caption lines, and the caption colour."""

    pixels: np.ndarray
    caption: tuple[str, ...]
    color: str = "black"


def _short(name: str, width: int = 18) -> str:
    """``name`` cut to ``width`` characters (an ellipsis marks the cut)."""
    text = str(name)
    return text if len(text) <= width else text[: width - 1] + "…"


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def training_curves(history: Sequence[Mapping[str, str]], path: Path) -> Path:
    """Accuracy and loss per epoch, train and validation, across both phases, the boundary marked."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    step = np.arange(1, len(history) + 1)
    phases = [str(row.get("phase", "")) for row in history]
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            values = [float(row[key]) if row.get(key) not in (None, "") else np.nan for row in history]
            ax.plot(step, values, style, markersize=3, label=("train " if key == metric else "validation ") + metric)
        for i in range(1, len(phases)):
            if phases[i] != phases[i - 1]:
                ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1.5)
                ax.annotate(
                    f"phase {phases[i]} starts" if phases[i].isdigit() else f"{phases[i]} starts",
                    (i + 0.5, 0.98),
                    xycoords=("data", "axes fraction"),
                    ha="left",
                    va="top",
                    fontsize=8,
                    color="grey",
                    rotation=90,
                )
        ax.set(title=f"Training {metric}", xlabel="epoch (both phases in sequence)", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if not history:
        axes[0].text(0.5, 0.5, "no training history", ha="center", transform=axes[0].transAxes)
    return _save(fig, path)


def class_distribution(counts: Mapping[str, Mapping[str, int]], classes: Sequence[str], path: Path) -> Path:
    """One bar chart of images per class for each split, side by side."""
    splits = [s for s in counts if sum(counts[s].values())] or ["train"]
    fig = Figure(figsize=(max(5.0, 3.2 * len(splits) + 0.25 * len(classes) * len(splits)), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(splits), sharey=True))
    for ax, split in zip(axes, splits, strict=True):
        values = [counts.get(split, {}).get(c, 0) for c in classes]
        bars = ax.bar(range(len(classes)), values, color="tab:blue")
        ax.bar_label(bars, fontsize=8)
        ax.set_xticks(
            range(len(classes)),
            [_short(c) for c in classes],
            rotation=45 if len(classes) > 4 else 0,
            ha="right" if len(classes) > 4 else "center",
        )
        ax.set(title=f"{split} ({sum(values)} images)", xlabel="class", ylabel="images")
    fig.suptitle("Class distribution per split")
    return _save(fig, path)


def confusion_heatmap(cm: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    """Confusion matrix coloured by row share, each cell annotated with its count and row percentage."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = max(4.5, 0.6 * len(classes) + 2.5)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    if len(classes) <= 25:
        for (i, j), n in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                f"{int(n)}\n{norm[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    names = [_short(c) for c in classes]
    ax.set_xticks(range(len(classes)), names, rotation=45 if len(classes) > 3 else 0, ha="right")
    ax.set_yticks(range(len(classes)), names)
    ax.set(title="Confusion matrix (counts and row %)", xlabel="predicted class", ylabel="true class")
    return _save(fig, path)


def per_class_accuracy(per_class: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Horizontal bars of each class's accuracy (recall), with its support."""
    names = list(per_class)
    recall = [per_class[n]["recall"] for n in names]
    fig = Figure(figsize=(7, max(2.5, 0.4 * len(names) + 1.5)), layout="constrained")
    ax = fig.subplots()
    bars = ax.barh(range(len(names)), recall, color="tab:green")
    ax.bar_label(
        bars,
        [f"{r:.1%} (n={per_class[n]['support']})" for r, n in zip(recall, names, strict=True)],
        fontsize=8,
        padding=3,
    )
    ax.set_yticks(range(len(names)), [_short(n, 24) for n in names])
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.25), title="Per-class accuracy (recall) on the evaluation set", xlabel="accuracy")
    return _save(fig, path)


def reliability_diagram(before: Reliability, after: Reliability, temperature: float, path: Path) -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling, with the ECE."""
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, rel, name in ((axes[0], before, "Before calibration"), (axes[1], after, f"After (T = {temperature:.2f})")):
        edges = np.asarray(rel.edges)
        acc = [np.nan if a is None else a for a in rel.accuracy]
        ax.bar(edges[:-1], acc, width=np.diff(edges), align="edge", edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.set(title=f"{name}: ECE {rel.ece:.3f}", xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Reliability diagram")
    return _save(fig, path)


def risk_coverage_plot(curve: RiskCoverage, choice: ThresholdChoice, path: Path) -> Path:
    """Selective accuracy against coverage on validation, with the target and the chosen threshold."""
    fig = Figure(figsize=(6.5, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(curve.coverage, curve.accuracy, "-", color="tab:blue", label="kept predictions")
    ax.axhline(choice.target, color="tab:red", linestyle="--", label=f"target accuracy {choice.target:.0%}")
    ax.plot(
        [choice.coverage],
        [choice.accuracy],
        "o",
        color="black",
        markersize=8,
        label=f"threshold {choice.threshold:.3f}: coverage {choice.coverage:.0%}",
    )
    low = min(0.9, float(np.min(curve.accuracy)) - 0.02) if len(curve.accuracy) else 0.5
    ax.set(
        title="Risk-coverage (validation)",
        xlabel="coverage (share of predictions kept)",
        ylabel="accuracy of kept predictions",
        xlim=(0, 1.02),
        ylim=(low, 1.01),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def ood_histogram(
    inside: np.ndarray, outside: np.ndarray, threshold: float | None, auroc: float | None, path: Path
) -> Path:
    """Histograms of the OOD score of in-distribution and outside images, with the flagging threshold."""
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    values = np.concatenate([inside, outside]) if len(outside) else np.asarray(inside)
    bins = np.linspace(float(values.min()), float(values.max()) + 1e-6, 30) if len(values) else 10
    ax.hist(inside, bins=bins, alpha=0.6, label=f"evaluation images (n={len(inside)})")
    ax.hist(outside, bins=bins, alpha=0.6, label=f"images from elsewhere (n={len(outside)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"unfamiliar above {threshold:.3f}")
    title = "OOD score (k-NN cosine distance)" + ("" if auroc is None else f": AUROC {auroc:.3f}")
    ax.set(title=title, xlabel="OOD score (higher = less like the training images)", ylabel="images")
    ax.legend(fontsize=8)
    return _save(fig, path)


def image_grid(items: Sequence[GridItem], title: str, path: Path, *, cols: int = 5, empty: str = "") -> Path:
    """Thumbnails with captions under a title; ``empty`` is shown when there is nothing to show.

    The grid is laid out by hand (tiles of ``TILE`` inches, each caption in the gap above its tile): constrained
    layout, which solves for every caption's box, took 40 % of the time of the grids, half of an evaluation's.
    """
    rows = max(1, -(-len(items) // cols))
    lines = max((len(item.caption) for item in items), default=1)
    caption, width, height = 0.17 * lines, TILE * cols, rows * (TILE + 0.17 * lines) + 0.5
    fig = Figure(figsize=(width, height))
    fig.suptitle(title, y=1 - 0.05 / height, va="top")
    gap = caption + 0.12  # between rows: the caption and a little space
    tile = TILE + (0.1 - 0.12 * (rows - 1)) / rows  # tiles, gaps, title (0.35 in) and margin (0.05 in) fill it
    grid = {"left": 0.03 / width, "right": 1 - 0.03 / width, "bottom": 0.05 / height, "wspace": 0.04}
    grid |= {"top": 1 - (0.35 + caption) / height, "hspace": gap / tile}
    axes = np.atleast_1d(fig.subplots(rows, cols, gridspec_kw=grid)).ravel()
    for ax in axes:
        ax.axis("off")
        ax.set(xticks=[], yticks=[])  # hidden ticks are still laid out: the same picture, about twice as fast
    for ax, item in zip(axes, items, strict=False):
        ax.imshow(item.pixels)
        ax.set_title("\n".join(_short(line, 28) for line in item.caption), fontsize=8, color=item.color)
    if not items:
        axes[0].text(0, 0.5, empty or "nothing to show", fontsize=11, transform=axes[0].transAxes)
    return _save(fig, path)
