"""Model page: the verdict on the picked run, its evaluation report, how it was trained, and its exports."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from imgclf.app.components.export_panel import render_export
from imgclf.app.components.models import choose_model, selected_run
from imgclf.app.components.report import render_metrics, render_training, render_verdict
from imgclf.app.components.runfacts import load_metrics
from imgclf.app.components.text import md_escape
from imgclf.errors import ImgclfError


def _evaluate(run: Path) -> bool:
    """Evaluate ``run``; False (with the reason shown) when it failed."""
    import imgclf

    with st.spinner("Evaluating (this classifies the evaluation split)..."):
        try:
            imgclf.evaluate(run)
        except ImgclfError as exc:
            st.error(md_escape(exc))
            return False
    return True


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
if load_metrics(run) is None:
    st.warning(
        "This run has not been evaluated yet: press **Evaluate this run** to measure its accuracy, calibrate its "
        "confidence and fit its thresholds (`imgclf evaluate` does the same)."
    )
    if st.button("Evaluate this run", type="primary", key="evaluate") and _evaluate(run):
        st.rerun()
metrics = load_metrics(run)
if metrics is not None:
    render_verdict(metrics)
    render_metrics(run, metrics)
with st.expander("How it was trained", expanded=metrics is None):
    render_training(run)
render_export(run)
