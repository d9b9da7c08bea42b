"""Train page: pick a dataset, backbone, recipe and epochs; train in a separate process with live progress."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.datasets import choose_dataset
from imgclf.app.components.models import runs_dir
from imgclf.app.components.text import md_escape
from imgclf.app.components.training import (
    STAGES,
    TrainingJob,
    TrainingRequest,
    curves,
    latest_by_stage,
    safe_run_name,
    start_training,
)
from imgclf.errors import ImgclfError
from imgclf.models.registry import list_backbones

JOB_KEY = "training_job"


def _suggested(backbone: str) -> dict[str, object]:
    """Epochs and weights that suit ``backbone`` (tinycnn has no pretrained weights and is a quick toy)."""
    toy = backbone == "tinycnn"
    return {"p1": 20 if toy else 60, "p2": 1 if toy else 3, "pretrained": not toy}


def _backbone_changed() -> None:
    st.session_state.update(_suggested(st.session_state["backbone"]))


def _form() -> TrainingRequest | None:
    data = choose_dataset("train")
    names = [spec.name for spec in list_backbones()]
    for key, value in _suggested(st.session_state.get("backbone", names[0])).items():
        st.session_state.setdefault(key, value)
    left, right = st.columns(2)
    backbone = left.selectbox(
        "Backbone", names, key="backbone", on_change=_backbone_changed, help="resnet50 is the default; tinycnn a toy."
    )
    recipe = right.selectbox("Recipe", ["fast", "classic"], key="recipe", help="fast: cached features, then fine-tune.")
    p1 = left.number_input("Phase 1 epochs (head)", 1, 500, key="p1")
    p2 = right.number_input("Phase 2 epochs (fine-tune)", 0, 100, key="p2")
    pretrained = st.checkbox("Start from ImageNet weights", key="pretrained")
    name = safe_run_name(st.text_input("Run name", "my-model", key="run_name"))
    st.caption(f"The run will be written to {md_escape(runs_dir() / name)}")
    if not st.button("Start training", type="primary", disabled=data is None, key="start"):
        return None
    return TrainingRequest(data, runs_dir() / name, backbone, recipe, (int(p1), int(p2)), pretrained)


def _progress(job: TrainingJob) -> None:
    events = job.events()
    latest = latest_by_stage(events)
    for stage in STAGES:
        if stage in latest:
            event = latest[stage]
            total = max(int(event.get("total") or 0), 1)
            step = min(int(event.get("step") or 0), total)
            st.progress(step / total, text=f"{stage}: {step}/{total} {md_escape(event.get('message', ''))}")
    frame = curves(events)
    if not frame.empty:
        left, right = st.columns(2)
        left.line_chart(frame[[c for c in ("loss", "val_loss") if c in frame]])
        right.line_chart(frame[[c for c in ("accuracy", "val_accuracy") if c in frame]])


@st.fragment(run_every=1.0)
def _live(job: TrainingJob) -> None:
    st.subheader(f"Training {md_escape(job.request.out.name)}")
    _progress(job)
    if job.running():
        if st.button("Cancel training", key="cancel"):
            job.cancel()
            st.rerun()
        return
    st.rerun()  # finished: refresh the whole page once (the model picker lists the new run)


def _finished(job: TrainingJob) -> None:
    st.subheader(f"Training {md_escape(job.request.out.name)}")
    _progress(job)
    run = job.run_dir()
    if run is None:
        st.error(f"Training stopped: {md_escape(job.error_text())}")
        return
    st.success(f"Done: {md_escape(run.name)} is in the Model picker (sidebar).", icon=":material/check_circle:")
    if st.button("Evaluate it now", key="evaluate_new"):
        import imgclf

        with st.spinner("Evaluating..."):
            try:
                imgclf.evaluate(run)
                st.success("Evaluated: see the Model page.")
            except ImgclfError as exc:
                st.error(md_escape(exc))


st.title("Train a model")
job: TrainingJob | None = st.session_state.get(JOB_KEY)
if job is not None and job.running():
    st.info("A training run is in progress; the other pages stay usable meanwhile.")
    _live(job)
    st.stop()
if job is not None:
    _finished(job)
    st.divider()
request = _form()
if request is not None:
    st.session_state[JOB_KEY] = start_training(request)
    st.rerun()
