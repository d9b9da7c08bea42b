"""Model page: the picked run's evaluation report, drawn natively (metrics, curves, matrix, errors), and exports."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.export_panel import render_export
from imgclf.app.components.models import choose_model, selected_run
from imgclf.app.components.report import load_metrics, render_history, render_metrics, render_run_facts
from imgclf.app.components.text import md_escape
from imgclf.errors import ImgclfError

st.title("Model report")
choose_model()
run = selected_run()
if run is None:
    st.info(
        "The pretrained ImageNet model has no evaluation report. Train a model on the Train page "
        "(or `imgclf train DATA --out runs/NAME`) and pick it in the sidebar."
    )
    st.stop()
st.subheader(md_escape(run.name))
render_run_facts(run)
render_history(run)
if st.button("Evaluate this run", key="evaluate", help="Fit calibration and thresholds, measure, draw the plots."):
    import imgclf

    with st.spinner("Evaluating (this classifies the evaluation split)..."):
        try:
            imgclf.evaluate(run)
        except ImgclfError as exc:
            st.error(md_escape(exc))
metrics = load_metrics(run)
if metrics is None:
    st.warning(
        f"This run has no evaluation yet: run `imgclf evaluate {md_escape(run)}` first, or press **Evaluate this run**."
    )
else:
    render_metrics(run, metrics)
render_export(run)
