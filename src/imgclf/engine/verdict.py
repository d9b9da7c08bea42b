"""A prediction in words, verdict first: what the app's cards and the offline analysis lead with."""

from __future__ import annotations

from collections.abc import Sequence

from imgclf.engine.predictor import Prediction

__all__ = ["class_list", "reason", "verdict"]

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


def _each(classes: Sequence[str]) -> str:
    """``ants and of bees``, ``red, of blue and of green``, or ``any of its 12 classes`` (after "photo of")."""
    names = list(classes)
    if len(names) > _LISTED or not names:
        return class_list(names)
    return names[0] if len(names) == 1 else f"{', of '.join(names[:-1])} and of {names[-1]}"


def reason(prediction: Prediction, classes: Sequence[str], *, threshold: float, ood_threshold: float | None) -> str:
    """Why the prediction got its status, in words, with the numbers it was decided on.

    ``threshold`` is the confidence threshold the status was judged at, ``ood_threshold`` the run's limit of the
    unfamiliarity score (``None`` when the run has none).
    """
    if prediction.status == "error" or prediction.label is None:
        return prediction.error or "The image could not be decoded."
    if prediction.status == "unfamiliar" and prediction.ood_score is not None and ood_threshold is not None:
        return (
            f"Far from every training photo of {_each(classes)}: its unfamiliarity is {prediction.ood_score:.2f}, "
            f"above the {ood_threshold:.2f} that 99% of familiar photos stay under."
        )
    confidence = f"{prediction.confidence:.0%} confidence in {prediction.label}"
    if prediction.status == "uncertain":
        members = prediction.prediction_set or ()
        torn = f" It cannot tell {class_list(members).replace(' or ', ' from ')}." if len(members) > 1 else ""
        return f"{confidence}, under the {threshold:.0%} this model needs to be trusted.{torn}"
    near = ""
    if prediction.ood_score is not None and ood_threshold is not None:
        near = f", and like its training photos (unfamiliarity {prediction.ood_score:.2f}, limit {ood_threshold:.2f})"
    return f"{confidence}, over the {threshold:.0%} threshold{near}."
