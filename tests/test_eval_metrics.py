"""Metrics, calibration error and thresholds against small hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.engine.confidence import ConfidencePolicy
from imgclf.evaluation.calibration import fit_temperature, reliability
from imgclf.evaluation.metrics import classification_metrics, format_table
from imgclf.evaluation.thresholds import choose_threshold, risk_coverage, selective_scores

CLASSES = ("cat", "dog", "fox")
# true:      0    0    1    1    2    2
# predicted: 0    1    1    1    2    0
Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.9, 0.0],
        [0.1, 0.1, 0.8],
        [0.5, 0.2, 0.3],
    ]
)


def test_metrics_match_hand_computation():
    m = classification_metrics(Y, P, CLASSES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recalls: cat 1/2, dog 2/2, fox 1/2 -> balanced 2/3; precisions: cat 1/2, dog 2/3, fox 1/1
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    f1 = {"cat": 0.5, "dog": 2 * (2 / 3) * 1 / (2 / 3 + 1), "fox": 2 * 1 * 0.5 / 1.5}
    for name, value in f1.items():
        assert m["per_class"][name]["f1"] == pytest.approx(value)
        assert m["per_class"][name]["support"] == 2
    assert m["f1_macro"] == pytest.approx(sum(f1.values()) / 3)
    assert m["per_class"]["dog"]["precision"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["confusion_matrix_normalized"][2] == [0.5, 0.0, 0.5]
    expected_loss = -np.mean(np.log([0.8, 0.3, 0.7, 0.9, 0.8, 0.3]))
    assert m["loss"] == pytest.approx(expected_loss)
    # class "cat": positives scored 0.8, 0.3; negatives 0.2, 0.1, 0.1, 0.5 -> 7 of 8 pairs ordered right
    assert m["per_class"]["cat"]["roc_auc"] == pytest.approx(7 / 8)
    assert m["top_k_accuracy"] == {}  # only 3 classes
    assert "cat" in format_table(m)


def test_top_k_reported_above_five_classes_and_auc_none_when_class_absent():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=40)
    y = np.r_[np.arange(6).repeat(6), [0, 1, 2, 3]]  # class 6 never occurs
    m = classification_metrics(y, probs, [f"c{i}" for i in range(7)])
    assert set(m["top_k_accuracy"]) == {"3", "5"}
    top3 = np.mean([yi in np.argsort(-p)[:3] for yi, p in zip(y, probs, strict=True)])
    assert m["top_k_accuracy"]["3"] == pytest.approx(top3)
    assert m["roc_auc_ovr"] is None
    assert m["per_class"]["c6"]["roc_auc"] is None and m["per_class"]["c0"]["roc_auc"] is not None


def test_ece_hand_computed():
    # Two bins used: confidences 0.9 (2 right, 0 wrong... 1 wrong) and 0.6.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 1, 0, 0])
    rel = reliability(y, probs, n_bins=10)
    # bin (0.8, 0.9]: conf 0.9, acc 1/2; bin (0.5, 0.6]: conf 0.6, acc 1/2 (one right, one wrong)
    assert rel.ece == pytest.approx(0.5 * abs(0.5 - 0.9) + 0.5 * abs(0.5 - 0.6))
    assert sum(rel.count) == 4


def _overconfident(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose logits are 4x too sharp: right ~75% of the time but ~100% sure."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    logits = rng.normal(0, 1, (n, 4))
    logits[np.arange(n), y] += 1.5
    exp = np.exp(4 * logits - (4 * logits).max(1, keepdims=True))
    return y, exp / exp.sum(1, keepdims=True)


def test_temperature_scaling_lowers_ece_of_overconfident_model():
    y_val, p_val = _overconfident(seed=0)
    y_test, p_test = _overconfident(seed=1)
    temperature = fit_temperature(y_val, p_val)
    # With a mean shift of 1.5 on unit Gaussians the true posterior is softmax(1.5 * logits): T* = 4 / 1.5
    assert 2.2 < temperature < 3.2
    calibrated = ConfidencePolicy(temperature).calibrate(p_test)
    before, after = reliability(y_test, p_test).ece, reliability(y_test, calibrated).ece
    assert after < before / 3
    assert np.array_equal(calibrated.argmax(1), p_test.argmax(1))  # accuracy unchanged


def test_threshold_meets_target_with_most_coverage_and_flags_the_rest():
    conf = np.array([0.99, 0.97, 0.95, 0.90, 0.85, 0.80, 0.70, 0.60])
    correct = np.array([1, 1, 1, 1, 0, 1, 0, 0], bool)
    choice = choose_threshold(conf, correct, target=0.8)
    # keeping the top 6 gives 5/6 = 0.833 >= 0.8; the top 7 gives 5/7 < 0.8
    assert choice.met and choice.coverage == pytest.approx(6 / 8) and choice.accuracy == pytest.approx(5 / 6)
    assert 0.70 < choice.threshold < 0.80
    policy = ConfidencePolicy(threshold=choice.threshold)
    statuses = [policy.status(c, None) for c in conf]
    assert statuses == ["ok"] * 6 + ["uncertain"] * 2
    assert selective_scores(conf, correct, choice.threshold) == {"coverage": 0.75, "accuracy": 5 / 6, "uncertain": 2}
    strict = choose_threshold(conf, correct, target=1.0)
    assert strict.coverage == pytest.approx(4 / 8) and 0.85 < strict.threshold < 0.90


def test_threshold_not_met_and_ties():
    conf = np.array([0.9, 0.9, 0.5])
    correct = np.array([0, 1, 1], bool)
    curve = risk_coverage(conf, correct)
    assert curve.coverage.tolist() == pytest.approx([2 / 3, 1.0])  # the tie is kept or dropped as a whole
    choice = choose_threshold(conf, correct, target=0.98)
    assert not choice.met and choice.accuracy == pytest.approx(2 / 3) and choice.threshold < 0.5
    with pytest.raises(ValueError, match=r"1\.5"):
        choose_threshold(conf, correct, target=1.5)
