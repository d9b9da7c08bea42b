"""Trust: conformal prediction sets keep their coverage guarantee, the unfamiliar threshold keeps its false-alarm
rate, and no threshold is ever fitted on the images it is judged on."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imgclf.cli.main import main
from imgclf.engine.conformal import ConformalSets, aps_scores, shares
from imgclf.engine.run import Run
from imgclf.evaluation import evaluate
from imgclf.evaluation.fitting import ood_threshold, split_calibration


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _draw(rng: np.random.Generator, n: int, classes: int, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities and true labels drawn from a *different* (sharper) distribution: miscalibrated."""
    logits = rng.normal(0, 1.5, size=(n, classes))
    truth = _softmax(sharpness * logits)
    labels = (rng.random((n, 1)) > np.cumsum(truth, axis=1)).sum(axis=1)
    return _softmax(logits), np.minimum(labels, classes - 1)


@pytest.mark.parametrize("sharpness", [1.0, 0.3, 3.0], ids=["calibrated", "overconfident", "underconfident"])
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_sets_cover_the_true_class_at_the_nominal_level_whatever_the_calibration(sharpness, level):
    rng = np.random.default_rng(42)
    coverages, sizes, top1 = [], [], []
    for _ in range(40):
        cal_probs, cal_labels = _draw(rng, 200, 6, sharpness)
        test_probs, test_labels = _draw(rng, 400, 6, sharpness)
        sets = ConformalSets.fit(cal_probs, cal_labels).sets(test_probs, level)
        coverages.append(np.mean([y in s for y, s in zip(test_labels, sets, strict=True)]))
        sizes.append(np.mean([len(s) for s in sets]))
        top1.append(np.mean(test_probs.argmax(axis=1) == test_labels))
    # The guarantee holds on average over calibration draws. The randomised sets cover exactly the level in
    # expectation (not more), so the mean of 40 draws moves around it by about 0.004 (one standard error).
    assert np.mean(coverages) >= level - 0.01
    if sharpness == 1.0:  # for a calibrated model the sets are not needlessly large (APS over-covers otherwise)
        assert np.mean(coverages) <= max(level, np.mean(top1)) + 0.03
    assert 1 <= np.mean(sizes) < 6


def test_a_confident_model_gets_single_class_sets():
    probs = np.array([[0.98, 0.01, 0.01]] * 50)
    sets = ConformalSets.fit(probs, np.zeros(50, int)).sets(probs, 0.9)
    assert all(s == (0,) for s in sets)


def test_a_confident_accurate_model_gets_single_class_sets_whatever_its_top_probability():
    # Top probabilities from 0.95 to 0.99999, all correct: the non-randomised form's quantile sits just below 1
    # and its sets took in every class of negligible probability (3.6 of 8 on a 99 %-accurate aerial model).
    rng = np.random.default_rng(0)

    def draw(n: int) -> np.ndarray:
        top = 1 - 10 ** rng.uniform(-5, np.log10(0.05), n)
        rest = rng.dirichlet(np.ones(7), n) * (1 - top)[:, None]
        return np.column_stack([top, rest])

    sets = ConformalSets.fit(draw(120), np.zeros(120, int)).sets(draw(500), 0.9)
    assert np.mean([len(s) for s in sets]) == 1.0


def test_scores_are_the_mass_above_the_true_class_plus_a_share_of_its_own():
    probs = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    assert aps_scores(probs, [0, 2], u=np.array([1.0, 1.0])) == pytest.approx([0.5, 1.0])
    assert aps_scores(probs, [0, 2], u=np.array([0.5, 0.0])) == pytest.approx([0.25, 0.8])


def test_the_same_probabilities_always_get_the_same_set():
    sets = ConformalSets.fit(*_draw(np.random.default_rng(1), 200, 6, 1.0))
    probs = _draw(np.random.default_rng(2), 50, 6, 1.0)[0]
    assert sets.sets(probs, 0.9) == sets.sets(probs + 1e-9, 0.9) == [sets.sets(p, 0.9)[0] for p in probs]
    u = shares(probs)
    assert 0.2 < u.mean() < 0.8 and len(set(u)) == len(u)


def test_too_few_calibration_images_give_every_class_and_say_so():
    sets = ConformalSets((0.5, 0.6, 0.7))
    assert not sets.min_coverage_met(0.9)
    assert sets.sets(np.array([[0.9, 0.05, 0.05]]), 0.9) == [(0, 1, 2)]
    with pytest.raises(ValueError, match="between 0 and 1"):
        sets.quantile(1.5)


def test_unfamiliar_threshold_flags_at_most_its_rate_of_familiar_images():
    rng = np.random.default_rng(7)
    rates = []
    for _ in range(200):
        limit = ood_threshold(rng.gamma(2.0, size=300), rate=0.01)
        rates.append(np.mean(rng.gamma(2.0, size=2000) > limit))
    assert np.mean(rates) <= 0.01 + 0.002
    assert ood_threshold(np.array([0.1, 0.2])) == pytest.approx(0.2)  # few images: the highest score


def test_calibration_halves_are_disjoint_stratified_and_stable():
    pairs = [(Path(f"/d/{c}_{i}.png"), c) for c in (0, 1) for i in range(7)]
    calibration, held_out = split_calibration(pairs)
    assert not {p for p, _ in calibration} & {p for p, _ in held_out}
    assert sorted(calibration + held_out) == sorted(pairs)
    assert [sum(1 for _, c in calibration if c == k) for k in (0, 1)] == [4, 4]
    assert split_calibration(list(reversed(pairs))) == (calibration, held_out)


def _evaluated_copy(tiny_run: Path, target: Path, *, drop_test: bool) -> Path:
    run = shutil.copytree(tiny_run, target)
    if drop_test:
        splits = json.loads((run / "splits.json").read_text())
        splits["test"] = []
        (run / "splits.json").write_text(json.dumps(splits))
    return run


@pytest.mark.parametrize("drop_test", [False, True], ids=["test-split", "val-only"])
def test_thresholds_are_never_fitted_on_the_images_they_are_judged_on(tiny_run, tmp_path, drop_test):
    run = _evaluated_copy(tiny_run, tmp_path / "run", drop_test=drop_test)
    result = evaluate(run, html=False)
    fitted = set(result.metrics["calibration"]["fitted_images"])
    judged = {row["path"] for row in Run(run).predictions()}
    assert fitted and judged and not fitted & judged
    val = {str(p) for p, _ in Run(run).splits()["val"]}
    assert fitted <= val
    assert (judged <= val) == drop_test
    sets = {s["level"]: s for s in result.metrics["sets"]}
    assert sets[0.9]["coverage"] >= 0.8 and sets[0.9]["mean_size"] >= 1


def test_predict_cli_adds_prediction_sets(tiny_run, tmp_path, capsys):
    run = _evaluated_copy(tiny_run, tmp_path / "run", drop_test=False)
    image = Run(run).splits()["test"][0][0]
    assert main(["predict", str(run), str(image), "--sets", "0.9"]) == 2  # not calibrated yet
    assert "imgclf evaluate" in capsys.readouterr().err
    evaluate(run, html=False)
    out = tmp_path / "preds.csv"
    args = [str(image), str(tmp_path / "missing.png"), "--sets", "0.9", "--output", str(out)]
    assert main(["predict", str(run), *args]) == 0
    rows = list(csv.DictReader(out.open()))
    classes = set(Run(run).classes)
    assert rows[0]["label"] in rows[0]["set"].split("; ") and set(rows[0]["set"].split("; ")) <= classes
    assert rows[1]["status"] == "error" and rows[1]["set"] == ""
    with pytest.raises(SystemExit):
        main(["predict", str(run), str(image), "--sets", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err
