"""Review page: suspects, evaluation errors and flagged images one at a time; fix labels; retrain; compare."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.compare import render_compare, render_retrain
from imgclf.app.components.models import choose_model, runs_dir, selected_run
from imgclf.app.components.review import render_add_photos, render_decisions, render_queue
from imgclf.app.components.text import md_escape
from imgclf.data.corrections import load_corrections
from imgclf.engine.run import Run
from imgclf.errors import ImgclfError
from imgclf.evaluation.inputs import run_dataset
from imgclf.evaluation.review_queue import review_queue

st.title("Review")
choose_model()
run_path = selected_run()
if run_path is None:
    st.info(
        "Review works on a trained run: pick one in the Model picker (sidebar), or train one on the **Train** page.",
        icon=":material/info:",
    )
    st.stop()
runs = runs_dir()
try:
    run = Run.open(run_path)
    data = run_dataset(run)
    if data is None:
        st.error(f"The dataset this run was trained on ({md_escape(run.meta.get('dataset'))}) is not on this machine.")
        st.stop()
    book = load_corrections(data, runs)
    queue = review_queue(run.path)
except ImgclfError as exc:
    st.error(md_escape(exc))
    st.stop()
(st.caption if book.in_dataset else st.info)(md_escape(book.where()))

queue_tab, decisions_tab, retrain_tab, add_tab = st.tabs(
    [f"Queue ({len(queue)})", f"Decisions ({len(book.latest)})", "Retrain and compare", "Add new photos"]
)
with queue_tab:
    if run.metrics is None:
        st.warning(
            f"Evaluate {md_escape(run.path.name)} first (Model page, or `imgclf evaluate {md_escape(run.path)}`)."
        )
    render_queue(queue, run.classes, data, runs)
with decisions_tab:
    render_decisions(data, runs)
with retrain_tab:
    render_retrain(run.path, data)
    st.divider()
    render_compare(runs, run.path)
with add_tab:
    render_add_photos(data, runs, run.classes)
