"""The offline analysis: a deterministic summary built from the classifier alone (no network).

Top classes, calibrated confidence, uncertainty, where the Grad-CAM heat map focuses and the confusions
known from evaluation. Used for provider ``none`` and whenever a provider is unavailable.
"""

from __future__ import annotations

import math

from imgclf.engine.predictor import Prediction
from imgclf.engine.verdict import verdict
from imgclf.genai.context import RunContext

__all__ = ["describe_confusions", "describe_region", "offline_analysis", "uncertainty_lines"]

_STATUS = {
    "ok": "The confidence is above the run's threshold.",
    "uncertain": "The confidence is below the run's threshold: treat the label as a guess and check by eye.",
    "unfamiliar": "The image looks unlike the training images, so the label may be meaningless.",
}


def describe_region(peak: tuple[float, float]) -> str:
    """A place name for a point given as (x, y) fractions of width and height, e.g. ``upper left``."""
    x, y = (min(max(float(v), 0.0), 1.0) for v in peak)
    row = ("upper", "middle", "lower")[min(int(y * 3), 2)]
    col = ("left", "centre", "right")[min(int(x * 3), 2)]
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


def uncertainty_lines(prediction: Prediction) -> list[str]:
    """The margin over the runner-up and the spread of the probabilities, in words."""
    lines = []
    if len(prediction.top_k) > 1:
        (_, p1), (second, p2) = prediction.top_k[:2]
        margin = p1 - p2
        word = "clear" if margin >= 0.5 else "narrow" if margin < 0.2 else "moderate"
        lines.append(f"Margin over the runner-up '{second}': {margin:.0%} points ({word}).")
    probs = [p for p in prediction.probabilities if p > 0]
    if len(prediction.probabilities) > 1:
        entropy = -sum(p * math.log(p) for p in probs) / math.log(len(prediction.probabilities))
        word = "concentrated on one class" if entropy < 0.3 else "spread over several classes"
        lines.append(f"Uncertainty (normalised entropy): {entropy:.2f} of 1, probability {word}.")
    if prediction.ood_score is not None:
        lines.append(f"Unfamiliarity score (distance to the training images): {prediction.ood_score:.3f}.")
    return lines


def describe_confusions(label: str, ctx: RunContext) -> list[str]:
    """Sentences on the classes ``label`` was mixed up with during evaluation."""
    if not ctx.matrix_labels:
        return [ctx.note] if ctx.note else []
    confusions = ctx.confusions(label)
    if not confusions:
        return [f"In evaluation, '{label}' was never confused with another class ({ctx.support(label)} test images)."]
    support = ctx.support(label)
    return [
        f"In evaluation, {c.label_as_other} of {support} '{label}' images were predicted as '{c.other}', "
        f"and {c.other_as_label} '{c.other}' images as '{label}'."
        for c in confusions
    ]


def offline_analysis(prediction: Prediction, ctx: RunContext, heatmap_peak: tuple[float, float] | None) -> str:
    """The Markdown summary shown when no model is used."""
    if prediction.status == "error" or prediction.label is None:
        return f"The image could not be classified: {prediction.error or 'unknown error'}."
    calibration = "calibrated" if ctx.calibrated else "not calibrated yet; evaluating the run calibrates it"
    score = f"{prediction.confidence:.0%} confidence ({calibration})"
    if prediction.status == "ok":
        lines = [f"**{prediction.label}**, {score}."]
    else:
        lines = [f"**{verdict(prediction, ctx.classes)}.** Closest class: {prediction.label}, {score}."]
    lines.append(_STATUS.get(prediction.status, f"Status: {prediction.status}."))
    if prediction.top_k:
        lines.append("Top classes: " + ", ".join(f"{name} {p:.0%}" for name, p in prediction.top_k) + ".")
    lines += uncertainty_lines(prediction)
    if heatmap_peak is not None:
        x, y = heatmap_peak
        lines.append(
            f"The Grad-CAM heat map peaks in the {describe_region(heatmap_peak)} of the image "
            f"({x:.0%} across, {y:.0%} down): check that this is the object and not the background."
        )
    lines += describe_confusions(prediction.label, ctx)
    return "\n".join(f"- {line}" for line in lines)
