"""A prediction in words: the verdict and the reason behind its status, with the numbers it was decided on."""

from __future__ import annotations

import pytest

from imgclf.engine.predictor import Prediction
from imgclf.engine.verdict import reason, verdict

CLASSES = ("ants", "bees")


def _pred(status: str, *, label: str | None = "ants", confidence: float = 0.97, ood: float | None = 0.31, **extra):
    return Prediction("photo.jpg", label, confidence, status, ood_score=ood, **extra)


@pytest.mark.parametrize(
    ("pred", "said", "because"),
    [
        (
            _pred("unfamiliar", ood=0.63),
            "Doesn't look like ants or bees",
            "Far from every training photo of ants and of bees: its unfamiliarity is 0.63, above the 0.54 that "
            "99% of familiar photos stay under.",
        ),
        (
            _pred("uncertain", confidence=0.71, prediction_set=("ants", "bees")),
            "Not sure: maybe ants",
            "71% confidence in ants, under the 90% this model needs to be trusted. It cannot tell ants from bees.",
        ),
        (
            _pred("uncertain", confidence=0.71),
            "Not sure: maybe ants",
            "71% confidence in ants, under the 90% this model needs to be trusted.",
        ),
        (
            _pred("ok"),
            "ants",
            "97% confidence in ants, over the 90% threshold, and like its training photos (unfamiliarity 0.31, "
            "limit 0.54).",
        ),
        (
            _pred("error", label=None, confidence=0.0, ood=None, error="not an image"),
            "Could not read this image",
            "not an image",
        ),
    ],
)
def test_status_is_explained_with_the_numbers_it_was_decided_on(pred: Prediction, said: str, because: str):
    assert verdict(pred, CLASSES) == said
    assert reason(pred, CLASSES, threshold=0.9, ood_threshold=0.54) == because


def test_many_classes_are_counted_not_listed():
    classes = tuple(f"c{i}" for i in range(12))
    text = reason(_pred("unfamiliar", label="c1", ood=0.9), classes, threshold=0.9, ood_threshold=0.5)
    assert text.startswith("Far from every training photo of any of its 12 classes:")


def test_three_classes_read_naturally():
    text = reason(_pred("unfamiliar", ood=0.9), ("red", "blue", "green"), threshold=0.9, ood_threshold=0.5)
    assert text.startswith("Far from every training photo of red, of blue and of green:")


def test_a_run_without_an_ood_limit_gives_no_unfamiliarity_figures():
    assert (
        reason(_pred("ok"), CLASSES, threshold=0.9, ood_threshold=None)
        == "97% confidence in ants, over the 90% threshold."
    )
