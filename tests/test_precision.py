"""Reduced-precision inference: the parity verdict, its record in the run, and the precision ``load`` picks.

This machine has no native bfloat16, but TensorFlow still computes ``mixed_bfloat16`` (emulated), which is all
these tests need: the machine's support is passed in as ``fastest``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import imgclf
from imgclf.engine.precision_check import ParityCheck, Tolerance, check_parity, compare
from imgclf.engine.predictor import Classifier
from imgclf.engine.run import BundleError, Run
from imgclf.models.build import build_model
from imgclf.models.registry import get_backbone

BF16 = "mixed_bfloat16"
PASSED = ParityCheck(BF16, 18, 1.0, 0.001, 0.9999, True)


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


def _features(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 16))


def test_verdict_needs_same_top1_small_probability_moves_and_close_features() -> None:
    feats = _features(3)
    probs = np.array([[0.50, 0.49, 0.01], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    same = compare(BF16, (feats, probs), (feats, probs.copy()))
    assert same == ParityCheck(BF16, 3, 1.0, 0.0, pytest.approx(1.0), True)

    near_tie_flipped = probs.copy()
    near_tie_flipped[0] = [0.49, 0.50, 0.01]  # moved by 0.01 only, within tolerance, but the top-1 changed
    flipped = compare(BF16, (feats, probs), (feats, near_tie_flipped))
    assert (flipped.agreement, flipped.passed) == (pytest.approx(2 / 3), False)
    assert flipped.max_prob_diff == pytest.approx(0.01)

    shifted = probs + np.array([0.03, -0.03, 0.0])  # same top-1 everywhere, but a 0.03 move
    moved = compare(BF16, (feats, probs), (feats, shifted))
    assert (moved.agreement, moved.max_prob_diff, moved.passed) == (1.0, pytest.approx(0.03), False)

    drifted = feats + 0.2 * _features(3, seed=1)  # features that would move the OOD score
    far = compare(BF16, (feats, probs), (drifted, probs))
    assert far.min_feature_cosine < 0.999 and not far.passed
    assert compare(BF16, (feats, probs), (drifted, probs), Tolerance(min_feature_cosine=0.9)).passed

    nothing = compare(BF16, (np.zeros((0, 16)), np.zeros((0, 3))), (np.zeros((0, 16)), np.zeros((0, 3))))
    assert (nothing.images, nothing.passed) == (0, False)


def test_parity_of_a_tiny_model_in_bfloat16_and_an_impossible_tolerance() -> None:
    keras.utils.set_random_seed(0)
    spec = get_backbone("tinycnn")
    model, _, head, _ = build_model(spec, weights="none", input_size=32, num_classes=3, head_units=(8,), dropout=0.5)
    head.get_layer("predictions").bias.assign([3.0, 0.0, 0.0])  # a clear winner, as a trained model has
    clf = Classifier(model, ("a", "b", "c"), spec=spec, input_size=32)
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)

    check = check_parity(clf, pixels, BF16, head_units=(8,), dropout=0.5)
    assert (check.policy, check.images, check.agreement, check.passed) == (BF16, 8, 1.0, True)
    assert 0 < check.max_prob_diff <= 0.02  # bfloat16 really computed (emulated here) and stayed close
    assert check.min_feature_cosine >= 0.999
    strict = check_parity(clf, pixels, BF16, head_units=(8,), dropout=0.5, tolerance=Tolerance(max_prob_diff=0.0))
    assert (strict.agreement, strict.passed) == (1.0, False)
    assert clf.precision == "float32" and clf.at_precision(BF16, head_units=(8,), dropout=0.5).precision == BF16


@pytest.mark.parametrize(
    ("fastest", "record", "expected"),
    [
        (BF16, PASSED, BF16),
        ("float32", PASSED, "float32"),  # the CPU lacks bfloat16: the record does not matter
        (BF16, ParityCheck(BF16, 18, 17 / 18, 0.3, 0.99, False), "float32"),  # the check failed
        (BF16, ParityCheck("mixed_float16", 18, 1.0, 0.001, 0.9999, True), "float32"),  # another policy's check
        (BF16, None, "float32"),  # an old run (or one evaluated on a machine without bfloat16)
    ],
)
def test_load_uses_bfloat16_only_with_machine_support_and_a_passed_check(
    tiny_run: Path, tmp_path: Path, fastest: str, record: ParityCheck | None, expected: str
) -> None:
    run = Run(_copy(tiny_run, tmp_path / "run"))
    if record is not None:
        run.write_calibration({"temperature": 1.0}, record)
    clf = imgclf.load(run.path, fastest=fastest)
    assert clf.precision == expected
    images = [path for path, _ in run.splits()["test"]]
    reference = imgclf.load(run.path, fastest="float32").predict(images)
    assert [p.label for p in clf.predict(images)] == [p.label for p in reference]


def test_damaged_record_is_a_clear_error_naming_the_file(tiny_run: Path, tmp_path: Path) -> None:
    run = Run(_copy(tiny_run, tmp_path / "run"))
    run.write_json("calibration.json", {"temperature": 1.0, "inference_precision": {"policy": BF16, "passed": "yes"}})
    with pytest.raises(BundleError, match=r"calibration\.json.*damaged \"inference_precision\".*imgclf evaluate"):
        imgclf.load(run.path, fastest=BF16)
    assert imgclf.load(run.path, fastest="float32").precision == "float32"  # irrelevant without bfloat16


def test_evaluate_records_the_check_once_and_keeps_it_where_nothing_is_checked(tiny_run: Path, tmp_path: Path) -> None:
    run = Run(_copy(tiny_run, tmp_path / "run"))
    checked = imgclf.evaluate(run.path, html=False, fastest=BF16)
    record = run.parity
    assert record is not None and (record.policy, record.passed) == (BF16, True)
    assert record.images == len(run.splits()["val"])  # the validation images evaluation embeds anyway
    assert re.search(r"\ninference_precision +mixed_bfloat16: same predictions as float32 on 18 val", checked.summary())
    assert imgclf.load(run.path, fastest=BF16).precision == BF16

    plain = imgclf.evaluate(run.path, html=False, fastest="float32")  # e.g. re-evaluated on a laptop
    assert run.parity == record
    assert re.search(r"\ninference_precision +float32: this machine has no faster precision", plain.summary())
    assert plain.metrics["inference_precision"]["policy"] == "float32"
