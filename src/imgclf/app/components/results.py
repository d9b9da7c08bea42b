"""One pass per image (forward, or Grad-CAM which includes it), cached per session; results as a grid of cards.

Each card leads with the verdict ("Doesn't look like ants or bees", "Not sure: maybe ants", or the label),
shows the score beside the threshold it is judged against, and opens the details of its image (the top
classes, the heat map at full size and the AI analysis) below the grid.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from imgclf.app.components.inputs import InputImage
from imgclf.app.components.models import LoadedModel
from imgclf.app.components.text import md_escape, plural
from imgclf.data.decode import DecodeError, decode_image, open_image
from imgclf.engine.explainer import overlay
from imgclf.engine.predictor import Prediction
from imgclf.engine.verdict import reason, verdict

__all__ = [
    "STATUS_NAMES",
    "Analysis",
    "Shown",
    "analyse",
    "predictions_csv",
    "render_card",
    "render_details",
    "status_counts",
    "summary_table",
]

_CACHE_KEY = "analyses"
_CACHE_SIZE = 64
_DISPLAY_SIDE = 640
STATUS_NAMES = {"ok": "confident", "uncertain": "uncertain", "unfamiliar": "unfamiliar", "error": "unreadable"}
_BADGES = {
    "ok": ("green", ":material/check_circle:"),
    "uncertain": ("orange", ":material/help:"),
    "unfamiliar": ("violet", ":material/explore_off:"),
    "error": ("red", ":material/error:"),
}


@dataclasses.dataclass(frozen=True)
class Analysis:
    """What one model pass found for one image (``error`` set when the image could not be decoded)."""

    image: InputImage
    display: Image.Image | None = None
    features: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    heatmap: np.ndarray | None = None
    error: str | None = None

    def prediction(self, model: LoadedModel, *, top_k: int, threshold: float) -> Prediction:
        """The calibrated prediction with its status at ``threshold`` (cheap: no model call)."""
        if self.error is not None or self.features is None or self.probabilities is None:
            return Prediction(self.image.name, None, 0.0, "error", error=self.error)
        return model.classifier.describe(
            self.image.name, self.features, self.probabilities, top_k=top_k, threshold=threshold
        )


@dataclasses.dataclass(frozen=True)
class Shown:
    """How results are judged on screen: the classes, the confidence threshold and the unfamiliarity limit."""

    classes: tuple[str, ...]
    threshold: float
    ood_threshold: float | None
    opacity: float


def _run(model: LoadedModel, image: InputImage, heatmap: bool) -> Analysis:
    clf = model.classifier
    try:
        pixels = decode_image(image.data, clf.input_size)  # the shared decoding path, as in training
        display = open_image(image.data, draft_size=_DISPLAY_SIDE)
    except DecodeError as exc:
        return Analysis(image, error=str(exc).replace("<uploaded bytes>", image.name))
    display.thumbnail((_DISPLAY_SIDE, _DISPLAY_SIDE))
    if heatmap:
        result = model.gradcam(pixels)
        return Analysis(image, display, result.features, result.probabilities, result.heatmap)
    features, probs = clf.forward(pixels[None])
    return Analysis(image, display, features[0], probs[0])


def analyse(model: LoadedModel, image: InputImage, *, heatmap: bool) -> Analysis:
    """The analysis of ``image``, from this session's cache when the same bytes were seen with this model."""
    cache: dict[tuple, Analysis] = st.session_state.setdefault(_CACHE_KEY, {})
    key = (model.key, image.digest, heatmap)
    if key not in cache:
        cache[key] = _run(model, image, heatmap)
        while len(cache) > _CACHE_SIZE:
            cache.pop(next(iter(cache)))
    return dataclasses.replace(cache[key], image=image)


def _picture(analysis: Analysis, opacity: float) -> None:
    if analysis.display is None:
        return
    shown = analysis.display
    if analysis.heatmap is not None:
        shown = overlay(analysis.display, analysis.heatmap, opacity)
    st.image(shown, width="stretch")


def _score(pred: Prediction, shown: Shown) -> str:
    """The number the status was decided on, beside the limit it was compared with."""
    if pred.status == "unfamiliar" and pred.ood_score is not None and shown.ood_threshold is not None:
        return f"Unfamiliarity {pred.ood_score:.2f} (limit {shown.ood_threshold:.2f}); {pred.confidence:.0%} confidence"
    return f"{pred.confidence:.0%} confidence (threshold {shown.threshold:.0%})"


def _guess_and_badge(pred: Prediction) -> None:
    """When the verdict is not the label, the model's guess greyed out; then the status badge."""
    color, icon = _BADGES[pred.status]
    if pred.status in ("uncertain", "unfamiliar") and pred.label:
        st.markdown(f":gray[model's guess: {md_escape(pred.label)}]")
    st.badge(STATUS_NAMES[pred.status], icon=icon, color=color)


def render_card(analysis: Analysis, pred: Prediction, shown: Shown) -> tuple[bool, bool]:
    """One result as a compact card; returns whether its Details and Remove buttons were pressed."""
    key = analysis.image.digest[:12]
    with st.container(border=True):
        _picture(analysis, shown.opacity)
        st.markdown(f"**{md_escape(verdict(pred, shown.classes))}**")
        _guess_and_badge(pred)
        if pred.error:
            st.caption(md_escape(pred.error))
        else:
            st.caption(_score(pred, shown))
        st.caption(md_escape(analysis.image.name))
        with st.container(horizontal=True):
            details = st.button("Details", key=f"details-{key}", icon=":material/zoom_in:", type="tertiary")
            remove = st.button("Remove", key=f"remove-{key}", icon=":material/close:", type="tertiary")
    return details, remove


_CONFIDENCE_COLUMN = st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent")


def render_details(analysis: Analysis, pred: Prediction, shown: Shown) -> None:
    """The image large (with its heat map), the verdict, the score and the top classes as bars."""
    picture, facts = st.columns([3, 2])
    with picture:
        _picture(analysis, shown.opacity)
    with facts:
        if pred.error:
            _guess_and_badge(pred)
            st.error(md_escape(pred.error))
            return
        said = md_escape(verdict(pred, shown.classes))
        st.metric(said, f"{pred.confidence:.1%}", help="Calibrated confidence of the top class.")
        _guess_and_badge(pred)
        st.write(md_escape(reason(pred, shown.classes, threshold=shown.threshold, ood_threshold=shown.ood_threshold)))
        top = pd.DataFrame({"class": [n for n, _ in pred.top_k], "confidence": [p for _, p in pred.top_k]})
        st.dataframe(top, hide_index=True, column_config={"class": "Class", "confidence": _CONFIDENCE_COLUMN})


def status_counts(preds: Sequence[Prediction]) -> str:
    """E.g. ``3 images: 1 confident, 1 uncertain, 1 unfamiliar``."""
    counts = Counter(p.status for p in preds)
    parts = [f"{counts[s]} {name}" for s, name in STATUS_NAMES.items() if counts[s]]
    return f"{plural(len(preds), 'image')}: {', '.join(parts)}"


def summary_table(preds: Sequence[Prediction]) -> pd.DataFrame:
    """One row per image, with plain column names (sortable in ``st.dataframe``)."""
    rows = [
        {
            "Image": p.source,
            "Label": p.label,
            "Confidence": p.confidence,
            "Status": STATUS_NAMES[p.status],
            "Unfamiliarity": p.ood_score,
            "Problem": p.error or "",
        }
        for p in preds
    ]
    return pd.DataFrame(rows)


def predictions_csv(preds: Sequence[Prediction]) -> bytes:
    """The CSV download: every prediction with its top-k classes."""
    return pd.DataFrame([p.to_row() for p in preds]).rename(columns={"path": "image"}).to_csv(index=False).encode()
