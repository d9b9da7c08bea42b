"""A prediction in words, verdict first: what the app's cards and the offline analysis lead with."""

from __future__ import annotations

from collections.abc import Sequence

from imgclf.engine.predictor import Prediction

__all__ = ["class_list", "verdict"]

_LISTED = 4  # more classes than this are counted, not listed


def class_list(classes: Sequence[str]) -> str:
    """``ants or bees``, ``red, blue or green``, or ``any of its 12 classes``."""
    names = list(classes)
    if not names:
        return "any class it knows"
    if len(names) > _LISTED:
        return f"any of its {len(names):,} classes"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def verdict(prediction: Prediction, classes: Sequence[str]) -> str:
    """One short sentence: the label when confident, else what the status means for it.

    ``Doesn't look like ants or bees`` (unfamiliar), ``Not sure: maybe ants`` (uncertain),
    ``ants`` (ok), ``Could not read this image`` (error).
    """
    if prediction.status == "error" or prediction.label is None:
        return "Could not read this image"
    if prediction.status == "unfamiliar":
        return f"Doesn't look like {class_list(classes)}"
    if prediction.status == "uncertain":
        return f"Not sure: maybe {prediction.label}"
    return prediction.label
