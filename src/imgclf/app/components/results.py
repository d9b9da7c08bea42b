"""One pass per image (forward, or Grad-CAM which includes it), cached per session; results as native widgets."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from imgclf.app.components.inputs import InputImage
from imgclf.app.components.models import LoadedModel
from imgclf.app.components.text import md_escape
from imgclf.data.decode import DecodeError, decode_image, open_image
from imgclf.engine.explainer import overlay
from imgclf.engine.predictor import Prediction

__all__ = ["Analysis", "analyse", "predictions_csv", "render_result", "summary_table"]

_CACHE_KEY = "analyses"
_CACHE_SIZE = 64
_DISPLAY_SIDE = 640
_BADGES = {
    "ok": ("confident", "green", ":material/check_circle:"),
    "uncertain": ("uncertain", "orange", ":material/help:"),
    "unfamiliar": ("unfamiliar", "violet", ":material/explore_off:"),
    "error": ("unreadable", "red", ":material/error:"),
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


_CONFIDENCE_COLUMN = st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent")


def _top_k_frame(pred: Prediction) -> pd.DataFrame:
    return pd.DataFrame({"class": [name for name, _ in pred.top_k], "confidence": [p for _, p in pred.top_k]})


def render_result(analysis: Analysis, pred: Prediction, *, opacity: float) -> None:
    """Image (with heat map), label, status badge and the top-k classes as bars."""
    label, color, icon = _BADGES[pred.status]
    picture, facts = st.columns([3, 2])
    with picture:
        if analysis.display is not None:
            shown = analysis.display
            if analysis.heatmap is not None:
                shown = overlay(analysis.display, analysis.heatmap, opacity)
            st.image(shown, width="stretch")
    with facts:
        st.text(analysis.image.name)
        st.badge(label, icon=icon, color=color)
        if pred.error:
            st.error(md_escape(pred.error))
            return
        st.metric(md_escape(pred.label), f"{pred.confidence:.1%}", help="Calibrated confidence of the top class.")
        if pred.ood_score is not None:
            st.caption(f"Unfamiliarity score {pred.ood_score:.3f} (higher = less like the training images).")
        st.dataframe(
            _top_k_frame(pred),
            hide_index=True,
            column_config={"class": "Class", "confidence": _CONFIDENCE_COLUMN},
        )


def summary_table(preds: Sequence[Prediction]) -> pd.DataFrame:
    """One row per image: name, label, confidence, status, OOD score (sortable in ``st.dataframe``)."""
    rows = [
        {
            "image": p.source,
            "label": p.label,
            "confidence": p.confidence,
            "status": p.status,
            "ood_score": p.ood_score,
            "error": p.error or "",
        }
        for p in preds
    ]
    return pd.DataFrame(rows)


def predictions_csv(preds: Sequence[Prediction]) -> bytes:
    """The CSV download: every prediction with its top-k classes."""
    return pd.DataFrame([p.to_row() for p in preds]).rename(columns={"path": "image"}).to_csv(index=False).encode()
