"""Classify page: upload, photograph or pick images; see the top classes, the confidence badge and Grad-CAM."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.genai_panel import render_genai_panel
from imgclf.app.components.inputs import collect_images
from imgclf.app.components.models import IMAGENET, choose_model, current_choice, loaded_model, selected_run
from imgclf.app.components.results import analyse, predictions_csv, render_result, summary_table
from imgclf.app.components.review import remember_classified
from imgclf.engine.explainer import heatmap_peak

st.title("Classify")
choose_model()
model = loaded_model()
if model is None:
    st.stop()
clf = model.classifier
if current_choice() == IMAGENET:
    st.info(
        "No trained model is selected: images are classified into the 1000 ImageNet classes by the pretrained "
        "ResNet50. To classify your own classes, train a model on the **Train** page or run "
        "`imgclf train DATA --out runs/NAME`; it then appears in the Model picker.",
        icon=":material/info:",
    )

stored = clf.policy.threshold
with st.sidebar:
    st.subheader("Display")
    threshold = st.slider(
        "Confidence threshold",
        0.0,
        1.0,
        float(stored) if stored is not None else 0.5,
        0.01,
        key="threshold",
        help="Predictions below it are flagged 'uncertain'. The default is the run's calibrated threshold.",
    )
    top_k = st.number_input("Classes shown", 1, min(10, len(clf.classes)), min(3, len(clf.classes)), key="top_k")
    show_heatmap = st.toggle("Grad-CAM heat map", value=True, key="heatmap")
    opacity = st.slider("Heat map opacity", 0.0, 1.0, 0.45, 0.05, key="opacity", disabled=not show_heatmap)

images = collect_images()
if not images:
    st.caption("Upload images, take a photo or pick a sample to classify it.")
    st.stop()

analyses = [analyse(model, image, heatmap=show_heatmap) for image in images]
preds = [a.prediction(model, top_k=int(top_k), threshold=threshold) for a in analyses]
if current_choice() != IMAGENET:
    remember_classified(images, preds)  # the Review page offers them for the dataset, uncertain ones first
if len(preds) > 1:
    st.subheader(f"{len(preds)} images")
    st.dataframe(
        summary_table(preds),
        hide_index=True,
        column_config={"confidence": st.column_config.ProgressColumn("confidence", format="percent")},
    )
    st.download_button("Download CSV", predictions_csv(preds), "predictions.csv", "text/csv", key="csv")

for i, (analysis, pred) in enumerate(zip(analyses, preds, strict=True)):
    st.divider()
    render_result(analysis, pred, opacity=opacity)
    if pred.status != "error":
        with st.expander("AI analysis"):
            render_genai_panel(
                prediction=pred,
                image_bytes=analysis.image.data,
                run_dir=selected_run(),
                heatmap_peak=heatmap_peak(analysis.heatmap) if analysis.heatmap is not None else None,
                key=f"genai-{i}-{analysis.image.digest[:12]}",
            )
