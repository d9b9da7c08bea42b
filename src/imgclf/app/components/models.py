"""The model picker and the per-process model cache (loaded once, warmed up, shared by every session)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from imgclf.app.components.runfacts import load_json, load_metrics, verdict_of
from imgclf.app.components.text import md_escape, plural
from imgclf.engine.bundle import BundleError, validate_run
from imgclf.engine.explainer import GradCam
from imgclf.engine.predictor import Classifier, load
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


def find_runs(folder: Path) -> list[Path]:
    """Complete runs directly under ``folder``, newest first (``*.partial`` and damaged folders are skipped)."""
    if not folder.is_dir():
        return []
    runs = []
    for child in folder.iterdir():
        try:
            runs.append(validate_run(child))
        except (BundleError, OSError):
            continue
    return sorted(runs, key=lambda p: (p / "meta.json").stat().st_mtime, reverse=True)


def _remember_choice() -> None:
    st.session_state[_CHOICE_KEY] = st.session_state[_PICKER_KEY]


def choose_model() -> None:
    """The sidebar picker (on the pages that use a model): every complete run, then the pretrained ImageNet model.

    The choice is kept under its own key, so it survives visits to pages without the picker.
    """
    options = [str(p) for p in find_runs(runs_dir())] + [IMAGENET]
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
    files = [Path(choice) / name for name in ("model.keras", "calibration.json", "features.npz")]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


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
            st.error(
                f"The model {md_escape(Path(choice).name)} could not be loaded; train it again.",
                icon=":material/error:",
            )
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
    classes = list((load_json(run / "labels.json") or {}).get("classes") or [])
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
