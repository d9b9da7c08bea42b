"""The Model page's report of a run, drawn with native Streamlit elements from what ``evaluate`` wrote.

Verdict card first (accuracy against chance, sample size, calibration), then the confusion matrix (click a
cell to see those images), the most confident errors, suspect labels, the other plots, and how the run was
trained. Each thing is shown once, with plain column names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from imgclf.app.components.charts import bar_chart, line_chart
from imgclf.app.components.runfacts import (
    Verdict,
    chance_level,
    load_history,
    load_predictions,
    read_run,
    trained_accuracy,
    verdict_of,
)
from imgclf.app.components.text import md_escape, plural
from imgclf.data.decode import DecodeError, open_image
from imgclf.engine.run import Run

__all__ = ["render_confusion", "render_metrics", "render_training", "render_training_verdict", "render_verdict"]

_PLOTS = {
    "reliability": "Is the confidence honest? (reliability)",
    "risk_coverage": "What the confidence threshold trades (risk vs coverage)",
    "ood_scores": "Unfamiliarity scores: training-like images vs photos from elsewhere",
}
_PER_CLASS_NAMES = {"precision": "Precision", "recall": "Recall", "f1": "F1", "support": "Images", "roc_auc": "ROC AUC"}
_SUSPECT_NAMES = {
    "source": "Image", "given": "Labelled as", "suggested": "Looks like", "suggested_probability": "Probability",
    "label_quality": "Label quality", "outlier_score": "Unfamiliarity", "suspicion": "Suspicion", "reason": "Why",
}  # fmt: skip
_THUMB_SIDE = 180
_THUMBS = 8


def _short_name(path: str) -> str:
    """``class/file.jpg``: enough to find an image, without the server's folders."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def _thumbnails(rows: pd.DataFrame, caption) -> None:
    """Up to :data:`_THUMBS` images of ``rows`` (a ``path`` column), four a row, each with ``caption(row)``."""
    columns = st.columns(4)
    for i, (_, row) in enumerate(rows.head(_THUMBS).iterrows()):
        with columns[i % 4]:
            try:
                image = open_image(str(row["path"]), draft_size=_THUMB_SIDE)
                image.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
                st.image(image)
            except DecodeError:
                st.caption(":material/broken_image: cannot be shown")
            st.caption(md_escape(caption(row)))


def render_verdict(metrics: dict[str, Any]) -> None:
    """The opening card: accuracy against chance and sample size, calibration, the headline numbers."""
    test, cal = metrics.get("test", {}), metrics.get("calibration", {})
    verdict = verdict_of(metrics)
    if verdict is None:
        st.warning("The evaluation of this run is incomplete; evaluate it again.")
        return
    split = "test" if metrics.get("evaluated_on") == "test" else "validation"
    with st.container(border=True):
        headline = f"Right on {verdict.accuracy:.0%} of {plural(verdict.n, split + ' image')}"
        lines = [verdict.interval_sentence()]
        if verdict.near_chance:
            st.error(f"**{headline}: barely better than chance.** {verdict.chance_sentence()}", icon=":material/error:")
        else:
            st.markdown(f"#### {headline}")
            lines.insert(0, verdict.chance_sentence())
        before, after = cal.get("ece_before"), cal.get("ece_after")
        if after is not None:
            was = "" if before is None else f" ({before * 100:.1f} before)"
            lines.append(
                f"After calibration, confidence is off by {after * 100:.1f} percentage points on average{was}."
            )
        if split == "validation":
            lines.append("No test split: measured on the validation images that also set the threshold (optimistic).")
        st.markdown("\n".join(f"- {md_escape(line)}" for line in lines))
        cols = st.columns(4)
        gain = verdict.accuracy - verdict.chance
        cols[0].metric(
            "Accuracy", f"{verdict.accuracy:.1%}", f"{gain * 100:+.0f} points vs chance", delta_color="normal"
        )
        cols[1].metric("Balanced accuracy", f"{test.get('balanced_accuracy', float('nan')):.1%}")
        cols[2].metric("Macro F1", f"{test.get('f1_macro', float('nan')):.3f}")
        if after is not None:
            change = None if before is None or abs(after - before) < 5e-4 else f"{after - before:+.3f} vs uncalibrated"
            cols[3].metric("Calibration error (ECE)", f"{after:.3f}", change, delta_color="inverse")


def _confusion_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    classes = list(metrics.get("classes", []))
    frame = pd.DataFrame(metrics.get("test", {}).get("confusion_matrix") or [], index=classes, columns=classes)
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


def render_confusion(run: Path, metrics: dict[str, Any]) -> None:
    """The confusion matrix; clicking a cell shows the images of that (true, predicted) pair."""
    st.subheader("Confusion matrix")
    st.caption("Rows: the true class; columns: what the model said. Click a cell to see those images.")
    frame = _confusion_frame(metrics)
    event = st.dataframe(frame, on_select="rerun", selection_mode="single-cell", key="confusion")
    cells = event.selection.get("cells") or []
    if not cells:
        return
    row, column = int(cells[0][0]), str(cells[0][1])
    if row >= len(frame) or column not in frame.columns:  # a selection made on another run's matrix
        return
    true, predicted = frame.index[row], column
    preds = load_predictions(run)
    if preds.empty:
        st.caption("The images of this evaluation are not recorded; evaluate the run again.")
        return
    chosen = preds[(preds["true"] == true) & (preds["predicted"] == predicted)]
    what = f"'{true}' predicted as '{predicted}'" if true != predicted else f"'{true}' recognised"
    st.markdown(f"**{md_escape(plural(len(chosen), 'image'))}: {md_escape(what)}**")
    _thumbnails(
        chosen.sort_values("confidence", ascending=False), lambda r: f"{r['confidence']:.0%} {_short_name(r['path'])}"
    )


def _errors(run: Path) -> None:
    st.subheader("Most confident errors")
    preds = load_predictions(run)
    wrong = preds[preds["correct"] == 0] if "correct" in preds else preds.iloc[0:0]
    if wrong.empty:
        st.caption("No evaluation image was misclassified.")
        return
    _thumbnails(
        wrong.sort_values("confidence", ascending=False),
        lambda r: f"{r['true']} taken for {r['predicted']} ({r['confidence']:.0%}) {_short_name(r['path'])}",
    )


def _suspects(metrics: dict[str, Any]) -> None:
    st.subheader("Suspect labels")
    suspects = pd.DataFrame(metrics.get("suspects", []))
    if suspects.empty:
        st.caption("No training image looks mislabelled.")
        return
    suspects["source"] = suspects["source"].map(_short_name)
    st.dataframe(suspects.rename(columns=_SUSPECT_NAMES), hide_index=True)


def render_metrics(run: Path, metrics: dict[str, Any]) -> None:
    """Everything after the verdict: per class, confusion matrix, errors, suspects and the plots."""
    for note in metrics.get("notes", []):
        st.caption(md_escape(note))
    st.subheader("Per class")
    per_class = pd.DataFrame(metrics.get("test", {}).get("per_class", {})).T
    st.dataframe(per_class.rename(columns=_PER_CLASS_NAMES))
    render_confusion(run, metrics)
    _errors(run)
    _suspects(metrics)
    plots = Run(run).plots_dir
    for name, title in _PLOTS.items():
        if (plots / f"{name}.png").is_file():
            st.subheader(title)
            st.image(str(plots / f"{name}.png"))


def render_training(run: Path) -> None:
    """How the run was trained: backbone, input size, weights, the curves and the class distribution."""
    meta = read_run(run, lambda r: r.meta, {})
    cols = st.columns(3)
    cols[0].metric("Backbone", str(meta.get("backbone", "?")))
    cols[1].metric("Input size", str(meta.get("input_size", "?")))
    weights = str(meta.get("weights", "?"))
    cols[2].metric("Weights", "none (random start)" if weights == "none" else weights)
    history = load_history(run)
    if history.empty:
        st.caption("No training history recorded.")
    else:
        left, right = st.columns(2)
        with left:
            line_chart(history, ("loss", "val_loss"), y_label="loss")
        with right:
            line_chart(history, ("accuracy", "val_accuracy"), y_label="accuracy")
    counts = read_run(run, lambda r: r.dataset_report, {}).get("counts")
    if counts:
        st.markdown("**Images per class and split**")
        bar_chart(pd.DataFrame(counts).fillna(0))


def render_training_verdict(run: Path, *, pretrained: bool) -> None:
    """After training: Done, or a plain warning when the run is near chance; a note when it started from scratch."""
    counts = read_run(run, lambda r: r.dataset_report, {}).get("counts") or {}
    val = {k: int(v) for k, v in (counts.get("val") or counts.get("train") or {}).items()}
    accuracy = trained_accuracy(load_history(run))
    name = md_escape(run.name)
    if accuracy is None or not val:
        st.success(f"Done: {name} is selected in the Model picker.", icon=":material/check_circle:")
    else:
        verdict = Verdict(accuracy, sum(val.values()), chance_level(val), len(val))
        said = f"{name} is right on {accuracy:.0%} of its validation images"
        if verdict.near_chance:
            st.warning(
                f"Finished, but {said}: about chance. {md_escape(verdict.chance_sentence())} It has not learned to "
                "tell the classes apart; do not trust its answers.",
                icon=":material/warning:",
            )
        else:
            st.success(
                f"Done: {said} (chance: {verdict.chance:.0%}). It is selected in the Model picker.",
                icon=":material/check_circle:",
            )
    if not pretrained:
        st.warning(
            "It was trained from random weights, without ImageNet pretraining: expect it to do worse on new photos "
            "than a pretrained model.",
            icon=":material/info:",
        )
