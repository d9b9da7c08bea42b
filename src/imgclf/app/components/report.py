"""The evaluation report of a run, drawn with native Streamlit elements from the files ``evaluate`` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from imgclf.app.components.text import md_escape
from imgclf.engine.run import BundleError, Run

__all__ = ["load_metrics", "render_history", "render_metrics", "render_run_facts"]

_PLOTS = {
    "reliability": "Reliability (calibration)",
    "risk_coverage": "Confidence threshold: risk vs coverage",
    "ood_scores": "Unfamiliarity scores",
    "confident_errors": "Most confident errors",
    "suspects": "Suspect labels",
}


def load_metrics(run: Path) -> dict[str, Any] | None:
    """The run's evaluation metrics, or ``None`` when the run was not evaluated (or they are damaged)."""
    try:
        return Run(run).metrics
    except BundleError:
        return None


def render_run_facts(run: Path) -> None:
    """Backbone, input size, weights and the class distribution of the training data."""
    handle = Run(run)
    try:
        meta, report = handle.meta, handle.dataset_report or {}
    except BundleError:
        meta, report = {}, {}
    cols = st.columns(3)
    cols[0].metric("Backbone", str(meta.get("backbone", "?")))
    cols[1].metric("Input size", str(meta.get("input_size", "?")))
    cols[2].metric("Weights", str(meta.get("weights", "?")))
    counts = report.get("counts")
    if counts:
        st.subheader("Class distribution")
        st.bar_chart(pd.DataFrame(counts).fillna(0), horizontal=True, stack=False)


def render_history(run: Path) -> None:
    """Training curves from ``history.csv`` (loss and accuracy per epoch, both phases in a row)."""
    try:
        history = pd.DataFrame(Run(run).history()).apply(pd.to_numeric, errors="coerce")
    except BundleError:
        history = pd.DataFrame()
    if history.empty:
        st.caption("No training history recorded.")
        return
    history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    st.subheader("Training curves")
    left, right = st.columns(2)
    left.line_chart(history[[c for c in ("loss", "val_loss") if c in history]])
    right.line_chart(history[[c for c in ("accuracy", "val_accuracy") if c in history]])


def _confusion(test: dict[str, Any], classes: list[str]) -> pd.DataFrame:
    matrix = test.get("confusion_matrix") or []
    if isinstance(matrix, dict):
        classes, matrix = matrix.get("labels", classes), matrix.get("counts", [])
    frame = pd.DataFrame(matrix, index=classes, columns=classes)
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


def _confident_errors(run: Path, limit: int = 10) -> pd.DataFrame:
    try:
        preds = pd.DataFrame(Run(run).predictions())
    except BundleError:
        return pd.DataFrame()
    if preds.empty:
        return preds
    preds["confidence"] = pd.to_numeric(preds["confidence"], errors="coerce")
    wrong = preds[preds["correct"] == "0"]
    return wrong.sort_values("confidence", ascending=False).head(limit)


def render_metrics(run: Path, metrics: dict[str, Any]) -> None:
    """Headline numbers, per-class scores, confusion matrix, calibration, errors, suspects and the plots."""
    test, cal = metrics.get("test", {}), metrics.get("calibration", {})
    classes = list(metrics.get("classes", []))
    st.caption(f"Evaluated on the {md_escape(metrics.get('evaluated_on', '?'))} split ({test.get('n', '?')} images).")
    cols = st.columns(4)
    cols[0].metric("Accuracy", f"{test.get('accuracy', float('nan')):.1%}")
    cols[1].metric("Balanced accuracy", f"{test.get('balanced_accuracy', float('nan')):.1%}")
    cols[2].metric("Macro F1", f"{test.get('f1_macro', float('nan')):.3f}")
    before, after = cal.get("ece_before"), cal.get("ece_after")
    if after is not None:
        delta = None if before is None else f"{after - before:+.3f} vs uncalibrated"
        cols[3].metric("Calibration error (ECE)", f"{after:.3f}", delta, delta_color="inverse")
    for note in metrics.get("notes", []):
        st.caption(md_escape(note))
    st.subheader("Per class")
    st.dataframe(pd.DataFrame(test.get("per_class", {})).T)
    st.subheader("Confusion matrix")
    st.dataframe(_confusion(test, classes))
    errors = _confident_errors(run)
    st.subheader("Most confident errors")
    st.dataframe(errors, hide_index=True) if not errors.empty else st.caption("No misclassified images.")
    st.subheader("Suspect labels")
    suspects = pd.DataFrame(metrics.get("suspects", []))
    st.dataframe(suspects, hide_index=True) if not suspects.empty else st.caption("No suspect labels found.")
    plots = Run(run).plots_dir
    for name, title in _PLOTS.items():
        if (plots / f"{name}.png").is_file():
            st.subheader(title)
            st.image(str(plots / f"{name}.png"))
