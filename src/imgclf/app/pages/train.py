"""Train page: pick a dataset, backbone, recipe and epochs; train in a separate process with live progress.

The form stays on screen (and keeps the user's choices) while a run trains, after Cancel and after a run
finishes. A cancelled run is the user's own act: it gets a neutral note with Resume and Delete; a failure
gets its cause in one sentence and the details in an expander; a finished run is judged against chance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from imgclf.app.components.charts import line_chart
from imgclf.app.components.datasets import choose_dataset, without_upload_paths
from imgclf.app.components.models import runs_dir, use_run
from imgclf.app.components.report import render_training_verdict
from imgclf.app.components.state import SESSION, initial
from imgclf.app.components.text import md_escape
from imgclf.app.components.training import (
    STAGES,
    TrainingJob,
    TrainingRequest,
    curves,
    delete_partial,
    latest_by_stage,
    safe_run_name,
    start_training,
)
from imgclf.engine.run import partial_dir, unique_run_dir
from imgclf.errors import ImgclfError
from imgclf.models.registry import list_backbones

JOB_KEY = "training_job"
PICKED_KEY = "training_job_picked"  # the job whose finished run was selected in the Model picker


def _suggested(backbone: str) -> dict[str, object]:
    """Epochs and weights that suit ``backbone`` (tinycnn has no pretrained weights and is a quick toy)."""
    toy = backbone == "tinycnn"
    return {"p1": 20 if toy else 60, "p2": 1 if toy else 3, "pretrained": not toy}


def _backbone_changed() -> None:
    st.session_state.update(_suggested(st.session_state["backbone"]))


def _interrupted(request: TrainingRequest) -> None:
    """Resume and Delete buttons for the unfinished run ``request.out`` left behind."""
    left, right = st.columns(2)
    if left.button("Resume", icon=":material/play_arrow:", key="resume", type="primary"):
        st.session_state[JOB_KEY] = start_training(dataclasses.replace(request, resume=True))
        st.rerun()
    if right.button("Delete the partial run", icon=":material/delete:", key="delete_partial"):
        delete_partial(request.out)
        st.session_state.pop(JOB_KEY, None)
        st.rerun()


def _form(running: bool, shown: Path | None) -> TrainingRequest | None:
    """The training form (kept as the user left it); a request when Start is pressed.

    An interrupted run under the chosen name gets Resume and Delete, unless ``shown`` (the job above) is it.
    """
    data = choose_dataset("train")
    names = [spec.name for spec in list_backbones()]
    for key, value in _suggested(st.session_state.get("backbone", names[0])).items():
        initial(key, value)
    left, right = st.columns(2)
    backbone = left.selectbox(
        "Backbone", names, key=initial("backbone", names[0]), on_change=_backbone_changed, persist_state=SESSION,
        help="resnet50 is the default; tinycnn a toy.",
    )  # fmt: skip
    recipe = right.selectbox(
        "Recipe",
        ["fast", "classic"],
        key=initial("recipe", "fast"),
        persist_state=SESSION,
        help="fast: cached features.",
    )
    p1 = left.number_input("Phase 1 epochs (head)", 1, 500, key="p1", persist_state=SESSION)
    p2 = right.number_input("Phase 2 epochs (fine-tune)", 0, 100, key="p2", persist_state=SESSION)
    pretrained = st.checkbox("Start from ImageNet weights", key="pretrained", persist_state=SESSION)
    if not pretrained:
        st.caption(
            ":orange[Without ImageNet weights the model starts from random weights: expect low accuracy unless "
            "you have many thousands of images.]"
        )
    name = safe_run_name(st.text_input("Run name", key=initial("run_name", "my-model"), persist_state=SESSION))
    out = unique_run_dir(runs_dir() / name)
    taken = f" ('{md_escape(name)}' is taken)" if out.name != name else ""
    st.caption(f"The run will be saved as **{md_escape(out.name)}**{taken} and appear in the Model picker.")
    request = TrainingRequest(data, out, backbone, recipe, (int(p1), int(p2)), pretrained) if data else None
    waiting = partial_dir(out).is_dir()
    if request is not None and waiting and not running and out != shown:
        st.warning(
            f"An interrupted run named {md_escape(out.name)} is waiting: resume it on this dataset or delete it."
        )
        _interrupted(request)
    started = st.button("Start training", type="primary", disabled=request is None or running or waiting, key="start")
    if waiting and not running:
        st.caption("Resume or delete the interrupted run first, or choose another run name.")
    return request if started else None


def _progress(job: TrainingJob) -> None:
    events = job.events()
    latest = latest_by_stage(events)
    for stage in STAGES:
        if stage in latest:
            event = latest[stage]
            total = max(int(event.get("total") or 0), 1)
            step = min(int(event.get("step") or 0), total)
            message = md_escape(without_upload_paths(event.get("message", "")))
            st.progress(step / total, text=f"{stage}: {step}/{total} {message}")
    frame = curves(events)
    if not frame.empty:
        left, right = st.columns(2)
        with left:
            line_chart(frame, ("loss", "val_loss"), y_label="loss")
        with right:
            line_chart(frame, ("accuracy", "val_accuracy"), y_label="accuracy")


@st.fragment(run_every=1.0)
def _live(job: TrainingJob) -> None:
    st.subheader(f"Training {md_escape(job.request.out.name)}")
    _progress(job)
    if job.running():
        if st.button("Cancel training", key="cancel", icon=":material/stop_circle:"):
            job.cancel()
            st.rerun()
        return
    st.rerun()  # finished: refresh the whole page once (the model picker lists the new run)


def _finished(job: TrainingJob) -> None:
    st.subheader(f"Training {md_escape(job.request.out.name)}")
    _progress(job)
    run = job.run_dir()
    if run is None:
        kept = job.partial_run() is not None
        if job.cancelled:
            st.info(
                "Cancelled, partial run kept." if kept else "Cancelled before anything was saved.",
                icon=":material/pause_circle:",
            )
        else:
            cause, details = job.failure()
            st.error(f"Training failed: {md_escape(without_upload_paths(cause))}", icon=":material/error:")
            with st.expander("Details"):
                st.code(details or "(no error output)", language=None)
        if kept:
            _interrupted(job.request)
        return
    if st.session_state.get(PICKED_KEY) != job.folder:  # select the new run once, then respect the user's choice
        st.session_state[PICKED_KEY] = job.folder
        use_run(run)
    render_training_verdict(run, pretrained=job.request.pretrained)
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
running = job is not None and job.running()
if running:
    st.info("A training run is in progress; the other pages stay usable meanwhile.")
    _live(job)
elif job is not None:
    _finished(job)
if job is not None:
    st.divider()
request = _form(running, job.request.out if job is not None else None)
if request is not None:
    st.session_state[JOB_KEY] = start_training(request)
    st.rerun()
