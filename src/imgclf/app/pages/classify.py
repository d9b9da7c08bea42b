"""Classify page: upload, photograph or pick images; each gets a card that leads with the verdict.

What the model knows (its classes and test accuracy) is said above the uploader; the model loads below it,
so the uploader is usable at once. Images stay in the session's list until removed.
"""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.genai_panel import render_genai_panel
from imgclf.app.components.inputs import choose_images, forget_image, kept_images
from imgclf.app.components.models import choose_model, loaded_model, render_model_summary, selected_run
from imgclf.app.components.results import (
    STATUS_NAMES,
    Analysis,
    Shown,
    analyse,
    predictions_csv,
    render_card,
    render_details,
    status_counts,
    summary_table,
)
from imgclf.app.components.review import remember_classified
from imgclf.app.components.state import SESSION, initial
from imgclf.app.components.text import md_escape
from imgclf.engine.explainer import heatmap_peak
from imgclf.engine.predictor import Prediction

COLUMNS = 4
DETAIL_KEY = "detail_image"  # digest of the image whose details are open


def _sidebar(classes: int, stored: float | None) -> tuple[float, int, bool, float]:
    if st.session_state.get("top_k", 0) > classes:  # a kept choice from a model with more classes
        st.session_state["top_k"] = classes
    with st.sidebar:
        st.subheader("Display")
        threshold = st.slider(
            "Confidence threshold", 0.0, 1.0, float(stored) if stored is not None else 0.5, 0.01, key="threshold",
            help="Predictions below it are flagged 'uncertain'. The default is the run's calibrated threshold.",
        )  # fmt: skip
        top_k = st.number_input(
            "Classes shown", 1, min(10, classes), key=initial("top_k", min(3, classes)), persist_state=SESSION
        )
        heatmap = st.toggle("Grad-CAM heat map", key=initial("heatmap", True), persist_state=SESSION)
        opacity = st.slider(
            "Heat map opacity",
            0.0,
            1.0,
            step=0.05,
            key=initial("opacity", 0.45),
            disabled=not heatmap,
            persist_state=SESSION,
        )
    return threshold, int(min(top_k, classes)), heatmap, opacity


def _grid(analyses: list[Analysis], preds: list[Prediction], shown: Shown) -> None:
    """The count by status, Remove all, the status filter, the cards, and every result as a table."""
    head, clear = st.columns([4, 1], vertical_alignment="center")
    head.subheader(status_counts(preds))
    if clear.button("Remove all", icon=":material/delete:", key="remove_all"):
        forget_image("*")
        st.rerun()
    wanted = st.segmented_control(
        "Show", ["all", *STATUS_NAMES], format_func=lambda s: "all" if s == "all" else STATUS_NAMES[s],
        key=initial("status_filter", "all"), persist_state=SESSION,
    )  # fmt: skip
    picked = [i for i, p in enumerate(preds) if wanted in (None, "all") or p.status == wanted]
    columns = st.columns(COLUMNS)
    for slot, i in enumerate(picked):
        with columns[slot % COLUMNS]:
            details, remove = render_card(analyses[i], preds[i], shown)
        if remove:
            forget_image(analyses[i].image.digest)
            st.rerun()
        if details:
            st.session_state[DETAIL_KEY] = analyses[i].image.digest
    if not picked:
        st.caption("No image has this status.")
    with st.expander("All results as a table"):
        st.dataframe(
            summary_table(preds), hide_index=True,
            column_config={"Confidence": st.column_config.ProgressColumn("Confidence", format="percent")},
        )  # fmt: skip
        st.download_button("Download CSV", predictions_csv(preds), "predictions.csv", "text/csv", key="csv")


def _details(analyses: list[Analysis], preds: list[Prediction], shown: Shown) -> None:
    """The image whose Details was pressed (the first one otherwise): large, its top classes, the AI analysis."""
    digests = [a.image.digest for a in analyses]
    opened = st.session_state.get(DETAIL_KEY)
    chosen = digests.index(opened) if opened in digests else 0
    analysis, pred = analyses[chosen], preds[chosen]
    st.divider()
    st.subheader(f"Details: {md_escape(analysis.image.name)}")
    render_details(analysis, pred, shown)
    if pred.status != "error":
        with st.expander("AI analysis"):
            render_genai_panel(
                prediction=pred,
                image_bytes=analysis.image.data,
                run_dir=selected_run(),
                heatmap_peak=heatmap_peak(analysis.heatmap) if analysis.heatmap is not None else None,
                key=f"genai-{analysis.image.digest[:12]}",
            )


st.title("Classify")
choose_model()
render_model_summary()
choose_images()
images = kept_images()
model = loaded_model()
if model is None:
    st.stop()
clf = model.classifier
threshold, top_k, show_heatmap, opacity = _sidebar(len(clf.classes), clf.policy.threshold)
if not images:
    st.caption("Upload images, take a photo or pick a sample to classify it.")
    st.stop()
analyses = [analyse(model, image, heatmap=show_heatmap) for image in images]
preds = [a.prediction(model, top_k=top_k, threshold=threshold) for a in analyses]
if selected_run() is not None:
    remember_classified(images, preds)  # the Review page offers them for the dataset, uncertain ones first
shown = Shown(tuple(clf.classes), threshold, clf.policy.ood_threshold, opacity)
_grid(analyses, preds, shown)
_details(analyses, preds, shown)
