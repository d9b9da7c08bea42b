"""The model picker and the per-process model cache (loaded once, warmed up, shared by every session)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from imgclf.engine.explainer import GradCam
from imgclf.engine.predictor import Classifier, load
from imgclf.engine.run import Run, scan_runs
from imgclf.errors import ImgclfError

__all__ = [
    "IMAGENET",
    "LoadedModel",
    "choose_model",
    "current_choice",
    "find_runs",
    "loaded_model",
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
            damaged.append((path.name, problem or "damaged"))
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
        help=f"Runs found in {runs_dir()}; train one on the Train page.",
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
        st.error(f"Could not load the model: {exc}", icon=":material/error:")
        if choice == IMAGENET:
            st.info(
                "Set IMGCLF_WEIGHTS to the ResNet50 ImageNet weights file (offline), or train your own model: "
                "`imgclf train DATA --out runs/NAME`, or use the Train page."
            )
        return None
