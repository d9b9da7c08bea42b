"""Retrain with corrections (a warm run: same settings, features from the cache) and the Compare view of two runs."""

from __future__ import annotations

import dataclasses
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from imgclf.app.components.models import find_runs, use_run
from imgclf.app.components.text import md_escape
from imgclf.app.components.training import TrainingJob, TrainingRequest, latest_by_stage, start_training
from imgclf.config import load_config
from imgclf.data.decode import DecodeError, open_image
from imgclf.engine.run import Run
from imgclf.errors import ImgclfError
from imgclf.evaluation.compare import RunComparison, compare_runs

__all__ = ["RETRAIN_KEY", "RetrainRequest", "render_compare", "render_retrain", "retrain_request"]

RETRAIN_KEY = "review_retrain_job"
_PAIR_KEYS = ("compare-a", "compare-b")
_THUMBS = 6


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetrainRequest(TrainingRequest):
    """``imgclf train`` with a finished run's exact settings (a config file), e.g. after review corrections."""

    base: Path
    config: Path

    def command(self, progress_file: Path) -> list[str]:
        """The ``imgclf train --config`` command line."""
        return [
            sys.executable, "-m", "imgclf.cli.main", "train", str(self.data), "--out", str(self.out),
            "--config", str(self.config), "--progress-file", str(progress_file),
        ]  # fmt: skip


def retrain_request(run: Run, data: Path) -> RetrainRequest:
    """Train ``data`` again with ``run``'s settings into ``<run>-reviewed`` beside it (a suffix if taken)."""
    cfg = load_config(overrides=run.config)
    config = Path(tempfile.mkdtemp(prefix="imgclf-retrain-")) / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    name = re.sub(r"(-reviewed(-\d+)?)+$", "", run.path.name) + "-reviewed"
    epochs = (cfg.phase1_epochs, cfg.phase2_epochs)
    return RetrainRequest(
        data=data, out=run.path.parent / name, backbone=cfg.backbone, recipe=cfg.recipe, epochs=epochs,
        pretrained=cfg.weights != "none", base=run.path, config=config,
    )  # fmt: skip


def _progress(job: TrainingJob) -> None:
    for stage, event in latest_by_stage(job.events()).items():
        total = max(int(event.get("total") or 0), 1)
        step = min(int(event.get("step") or 0), total)
        st.progress(step / total, text=f"{stage}: {step}/{total} {md_escape(event.get('message', ''))}")


@st.fragment(run_every=1.0)
def _live(job: TrainingJob) -> None:
    st.caption(f"Retraining into {md_escape(job.request.out.name)}...")
    _progress(job)
    if not job.running():
        st.rerun()


def _evaluate(runs: list[Path]) -> bool:
    """Evaluate ``runs`` in this process (as the Model page does); False after showing an error."""
    from imgclf.evaluation import evaluate

    for run in runs:
        with st.spinner(f"Evaluating {run.name}..."):
            try:
                evaluate(run)
            except ImgclfError as exc:
                st.error(md_escape(exc))
                return False
    return True


def _finished(job: TrainingJob) -> None:
    """Say how the retrain ended; evaluate the new run once and put both runs into the Compare view."""
    run = job.run_dir()
    if run is None:
        cause, _ = job.failure()
        st.error(f"Retraining stopped: {md_escape(cause)}")
        return
    warm = any("all features cached" in str(e.get("message")) for e in job.events() if e.get("stage") == "features")
    st.success(
        f"Retrained as {md_escape(run.name)}" + (" (warm: every feature came from the cache)." if warm else "."),
        icon=":material/check_circle:",
    )
    if Run(run).metrics is None and _evaluate([run]):
        st.session_state.update(dict(zip(_PAIR_KEYS, (str(job.request.base), str(run)), strict=True)))


def render_retrain(run: Path, data: Path) -> None:
    """The "Retrain with corrections" button, the live progress, and the evaluated result."""
    job: TrainingJob | None = st.session_state.get(RETRAIN_KEY)
    if job is not None and job.running():
        _live(job)
        return
    if job is not None:
        _finished(job)
    st.caption(
        f"Trains {md_escape(data)} again with the settings of {md_escape(run.name)}; corrections apply and the "
        "feature cache makes it quick. The new run is evaluated and compared below."
    )
    if st.button("Retrain with corrections", key="review-retrain", type="primary", icon=":material/replay:"):
        try:
            st.session_state[RETRAIN_KEY] = start_training(retrain_request(Run.open(run), data))
        except ImgclfError as exc:
            st.error(md_escape(exc))
            return
        st.rerun()


def _thumbnails(comparison: RunComparison) -> None:
    columns = st.columns(_THUMBS)
    for column, change in zip(columns, comparison.changed[:_THUMBS], strict=False):
        with column:
            try:
                image = open_image(change.path, draft_size=160)
                image.thumbnail((160, 160))
                st.image(image)
            except DecodeError:
                st.caption(":material/broken_image: cannot be shown")
            st.caption(
                f"{md_escape(change.verdict)}: label {md_escape(change.label)}, A {md_escape(change.predicted_a)}, "
                f"B {md_escape(change.predicted_b)}"
            )


def _render(comparison: RunComparison) -> None:
    c = comparison
    letter = "B" if c.keep == c.run_b else "A"
    st.success(f"Keep {letter} ({md_escape(c.keep.name)}): {md_escape(c.reason)}", icon=":material/thumb_up:")
    st.button(f"Use {c.keep.name} in the app", key="compare-use", on_click=use_run, args=(c.keep,))
    metrics = pd.DataFrame(
        [(name, a, b) for name, a, b in c.metrics], columns=["metric", f"A: {c.run_a.name}", f"B: {c.run_b.name}"]
    )
    st.dataframe(metrics, hide_index=True)
    st.caption(f"{c.shared} shared evaluation images; right today: A {c.right_a}, B {c.right_b}.")
    st.markdown(f"**Label changes between the runs' data** ({len(c.data_changes)})")
    if c.data_changes:
        rows = [(c.short(d.path), d.split, d.label_a or "(absent)", d.label_b or "(absent)") for d in c.data_changes]
        st.dataframe(pd.DataFrame(rows, columns=["path", "split", "A", "B"]), hide_index=True)
    st.markdown(f"**Evaluation images whose prediction changed** ({len(c.changed)})")
    if c.changed:
        rows = [(c.short(x.path), x.label, x.predicted_a, x.predicted_b, x.verdict) for x in c.changed]
        st.dataframe(pd.DataFrame(rows, columns=["path", "label", "A", "B", "verdict"]), hide_index=True)
        _thumbnails(c)


def render_compare(runs: Path, current: Path) -> None:
    """Pick two runs (default: the current run and its retrained version) and show them side by side."""
    found, _ = find_runs(runs)
    options = [str(p) for p in found]
    if len(options) < 2:
        st.caption("Compare needs two runs: retrain with corrections first.")
        return
    for key, default in zip(_PAIR_KEYS, (str(current), options[0]), strict=True):
        if st.session_state.get(key) not in options:
            st.session_state[key] = default
    left, right = st.columns(2)
    a = left.selectbox("Run A (before)", options, key=_PAIR_KEYS[0], format_func=lambda o: Path(o).name)
    b = right.selectbox("Run B (after)", options, key=_PAIR_KEYS[1], format_func=lambda o: Path(o).name)
    if a == b:
        st.caption("Pick two different runs.")
        return
    pending = [Path(p) for p in (a, b) if Run(p).metrics is None]
    if pending:
        names = " and ".join(p.name for p in pending)
        st.warning(f"{md_escape(names)} not evaluated yet; comparing needs both evaluations.")
        if st.button(f"Evaluate {names}", key="compare-evaluate"):
            _evaluate(pending)
            st.rerun()
        return
    try:
        _render(compare_runs(a, b))
    except ImgclfError as exc:
        st.warning(md_escape(exc))
