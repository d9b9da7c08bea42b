"""The model picker and the per-process model cache (loaded once, warmed up, shared by every session)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from imgclf.app.components.runfacts import load_metrics, verdict_of
from imgclf.app.components.text import md_escape, plural
from imgclf.engine.explainer import GradCam
from imgclf.engine.predictor import Classifier, load
from imgclf.engine.run import BundleError, Run, scan_runs
from imgclf.errors import ImgclfError

__all__ = [
    "IMAGENET",
    "LoadedModel",
    "choose_model",
    "current_choice",
    "find_runs",
    "loaded_model",
    "render_model_summary",
    "runs_dir",
    "selected_run",
    "use_run",
]

IMAGENET = "imagenet"  # the picker's value for the pretrained ImageNet ResNet50
_CHOICE_KEY = "model_choice"
_PICKER_KEY = "model_picker"


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A warmed-up classifier with its Grad-CAM, shared across sessions."""

    classifier: Classifier
    gradcam: GradCam
    key: str


def runs_dir() -> Path:
    """The folder of runs this app serves (set by ``main.py`` from ``--runs``)."""
    return Path(st.session_state.get("runs_dir", "runs")).expanduser()


def find_runs(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Complete runs directly under ``folder``, newest first, and ``(name, problem)`` of each damaged one."""
    good: list[Run] = []
    damaged: list[tuple[str, str]] = []
    for path, run, problem in scan_runs(folder):
        if run is not None:
            good.append(run)
        else:
            damaged.append((path.name, (problem or "damaged").replace(str(path), path.name)))  # no server paths
    good.sort(key=lambda run: run.stamp(), reverse=True)
    return [run.path for run in good], damaged


def _remember_choice() -> None:
    st.session_state[_CHOICE_KEY] = st.session_state[_PICKER_KEY]


def choose_model() -> None:
    """The sidebar picker (on the pages that use a model): every complete run, then the pretrained ImageNet model.

    The choice is kept under its own key, so it survives visits to pages without the picker.
    """
    runs, damaged = find_runs(runs_dir())
    options = [str(p) for p in runs] + [IMAGENET]
    for name, problem in damaged:
        st.sidebar.warning(f"Run {name} cannot be used: {problem}", icon=":material/warning:")
    if st.session_state.get(_CHOICE_KEY) not in options:
        st.session_state[_CHOICE_KEY] = options[0]
    st.session_state[_PICKER_KEY] = st.session_state[_CHOICE_KEY]
    st.sidebar.selectbox(
        "Model",
        options,
        key=_PICKER_KEY,
        on_change=_remember_choice,
        format_func=lambda o: "ImageNet ResNet50 (pretrained, 1000 classes)" if o == IMAGENET else Path(o).name,
        help="The runs this app serves, newest first; train one on the Train page.",
    )


def use_run(run: Path) -> None:
    """Make ``run`` the picked model (e.g. the run a comparison recommends keeping)."""
    st.session_state[_CHOICE_KEY] = str(run)


def current_choice() -> str:
    """The picked model: a run folder, or :data:`IMAGENET`."""
    return st.session_state.get(_CHOICE_KEY, IMAGENET)


def selected_run() -> Path | None:
    """The picked run folder, or ``None`` in ImageNet mode."""
    choice = current_choice()
    return None if choice == IMAGENET else Path(choice)


def _stamp(choice: str) -> float:
    """Changes when the run's model or calibration changes, so a re-evaluated run is reloaded."""
    if choice == IMAGENET:
        return 0.0
    return Run(choice).stamp()


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _load(choice: str, stamp: float) -> LoadedModel:
    from imgclf.models.imagenet import imagenet_classifier

    clf = imagenet_classifier(jit_compile=True) if choice == IMAGENET else load(choice, jit_compile=True)
    clf.forward(np.zeros((1, clf.input_size, clf.input_size, 3), np.uint8))  # warm up the compiled forward
    return LoadedModel(clf, GradCam(clf.model, clf.spec, jit_compile=True), f"{choice}@{stamp}")


def loaded_model() -> LoadedModel | None:
    """The picked model, loaded once per process; on failure an error says what to do and ``None`` returns."""
    choice = current_choice()
    try:
        return _load(choice, _stamp(choice))
    except ImgclfError as exc:
        if choice == IMAGENET:
            st.error(
                "The pretrained ImageNet model is not available on this server: its weights could not be loaded. "
                "Train your own model on the Train page, or ask whoever runs the app to set IMGCLF_WEIGHTS.",
                icon=":material/error:",
            )
        else:
            name = md_escape(Path(choice).name)
            st.error(f"The model {name} could not be loaded; train it again.", icon=":material/error:")
        with st.expander("Details"):
            st.code(str(exc), language=None)
        return None


def render_model_summary() -> None:
    """One line above the inputs: which classes the picked model knows and how accurate it was in evaluation."""
    run = selected_run()
    if run is None:
        st.info(
            "No trained model is selected: images are classified into the 1000 ImageNet classes by the pretrained "
            "ResNet50. To classify your own classes, train a model on the **Train** page or run "
            "`imgclf train DATA --out runs/NAME`; it then appears in the Model picker.",
            icon=":material/info:",
        )
        return
    try:
        classes = list(Run(run).classes)
    except BundleError:
        return  # the picker already says what is wrong with it
    metrics = load_metrics(run)
    verdict = verdict_of(metrics) if metrics is not None else None
    knows = f"**{md_escape(run.name)}** tells apart {plural(len(classes), 'class', 'classes')}"
    if len(classes) <= 12:
        knows += f": {md_escape(', '.join(classes))}"
    if verdict is None:
        quality = "not evaluated yet (see the Model page)"
    else:
        split = "test" if metrics.get("evaluated_on") == "test" else "validation"
        quality = f"right on {verdict.accuracy:.0%} of {plural(verdict.n, split + ' image')} in evaluation"
    st.markdown(f"{knows}; {quality}.")
