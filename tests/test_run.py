"""The run folder's one owner: damaged runs refused with one clear message each, locks, and the contract
between what ``evaluate`` writes and every reader (report, app, generative-AI context)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import imgclf
from imgclf.cli.main import main
from imgclf.engine import runlock
from imgclf.engine.run import BundleError, Run, partial_dir, scan_runs
from imgclf.evaluation import evaluate
from imgclf.genai import load_run_context
from imgclf.genai.offline import offline_analysis

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _labels(names: object) -> str:
    return json.dumps(names)


DAMAGES = {
    "labels-list": (lambda r: (r / "labels.json").write_text(_labels(["red", "blue", "green"])), "wrong shape"),
    "labels-too-many": (
        lambda r: (r / "labels.json").write_text(_labels({"classes": ["a", "b", "c", "d"]})),
        "names 4 classes but the model has 3 outputs",
    ),
    "labels-one": (lambda r: (r / "labels.json").write_text(_labels({"classes": ["red"]})), "two or more"),
    "labels-not-json": (lambda r: (r / "labels.json").write_text("{oops"), "not valid JSON"),
    "meta-list": (lambda r: (r / "meta.json").write_text("[]"), "wrong shape"),
    "model-truncated": (lambda r: _truncate(r / "model.keras"), "damaged or truncated"),
    "features-truncated": (lambda r: _truncate(r / "features.npz"), "imgclf evaluate"),
    "splits-shape": (None, None),
}
del DAMAGES["splits-shape"]  # splits only matter to evaluation: covered below


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_each_damage_gets_one_clear_error(tiny_run: Path, tmp_path: Path, damage: str) -> None:
    apply, message = DAMAGES[damage]
    run = _copy(tiny_run, tmp_path / "run")
    apply(run)
    with pytest.raises(BundleError, match=message):
        imgclf.load(run)


@pytest.mark.parametrize("damage", ["labels-list", "labels-too-many", "labels-one", "model-truncated"])
def test_cli_reports_damage_without_traceback_and_evaluate_writes_nothing(
    tiny_run: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture
) -> None:
    apply, message = DAMAGES[damage]
    run = _copy(tiny_run, tmp_path / "run")
    (run / "calibration.json").unlink(missing_ok=True)
    apply(run)
    image = json.loads((run / "splits.json").read_text())["test"][0][0]
    assert main(["predict", str(run), image]) == 2
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and message.split()[0] in err and "Traceback" not in err
    assert not (run / "calibration.json").exists() and not (run / "eval").exists()


def test_evaluate_rewrites_damaged_features(tiny_run: Path, tmp_path: Path) -> None:
    run = _copy(tiny_run, tmp_path / "run")
    _truncate(run / "features.npz")
    result = evaluate(run, html=False)
    assert any("rewritten" in note for note in result.metrics["notes"])
    assert Run.open(run).features() is not None and imgclf.load(run).ood is not None


def test_damaged_splits_are_reported(tiny_run: Path, tmp_path: Path) -> None:
    run = _copy(tiny_run, tmp_path / "run")
    (run / "splits.json").write_text(json.dumps({"train": "nope"}))
    with pytest.raises(BundleError, match=r"splits\.json' has the wrong shape"):
        evaluate(run, html=False)


def test_scan_lists_damaged_runs_with_their_problem(tiny_run: Path, tmp_path: Path) -> None:
    good = _copy(tiny_run, tmp_path / "runs" / "good")
    bad = _copy(tiny_run, tmp_path / "runs" / "bad")
    (bad / "labels.json").write_text(_labels(["x", "y"]))
    (tmp_path / "runs" / "notes").mkdir()  # not a run at all: ignored
    found = {path.name: (run, problem) for path, run, problem in scan_runs(tmp_path / "runs")}
    assert set(found) == {"good", "bad"}
    assert found["good"][0].path == good and found["good"][1] is None
    assert found["bad"][0] is None and "wrong shape" in found["bad"][1]


def test_app_lists_a_damaged_newest_run_instead_of_failing(tiny_run: Path, tmp_path: Path) -> None:
    _copy(tiny_run, tmp_path / "runs" / "good")
    bad = _copy(tiny_run, tmp_path / "runs" / "zz-newest")
    (bad / "labels.json").write_text(_labels({"classes": ["only-one"]}))
    os.utime(bad / "meta.json")
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state["runs_dir"] = str(tmp_path / "runs")
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="model_picker").value == str(tmp_path / "runs" / "good")
    assert any("zz-newest" in w.value and "two or more" in w.value for w in at.sidebar.warning)


@pytest.fixture(scope="module")
def evaluated(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> imgclf.EvalResult:
    run = _copy(tiny_run, tmp_path_factory.mktemp("contract") / "run")
    return evaluate(run)


def test_contract_evaluate_output_feeds_every_reader(evaluated: imgclf.EvalResult) -> None:
    run = Run.open(evaluated.run_dir)
    labels, counts = run.confusion()
    assert list(labels) == evaluated.metrics["classes"]
    assert counts.sum() == evaluated.metrics["test"]["n"]
    prediction = imgclf.load(run).predict([run.splits()["test"][0][0]])[0]
    ctx = load_run_context(run.path, prediction)
    assert ctx.note == "" and ctx.calibrated
    assert ctx.accuracy == pytest.approx(evaluated.metrics["test"]["accuracy"])
    text = offline_analysis(prediction, ctx, None)
    assert "Error" not in text and "metrics.json" not in text
    assert len(run.predictions()) == evaluated.metrics["test"]["n"]
    assert evaluated.report is not None and evaluated.report.is_file()


def test_contract_model_page_renders_the_evaluation(evaluated: imgclf.EvalResult) -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state["runs_dir"] = str(evaluated.run_dir.parent)
    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    assert not at.error
    assert any(m.label == "Accuracy" for m in at.metric)


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _lock_as(folder: Path, pid: int) -> None:
    import socket

    (folder / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "now"}))


def test_second_writer_is_refused_while_the_first_lives(colour_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    partial = partial_dir(out)
    partial.mkdir()
    (partial / "meta.json").write_text("{}")
    other = _sleeper()
    try:
        _lock_as(partial, other.pid)
        cfg = imgclf.load_config(overrides={"backbone": "tinycnn", "weights": "none", "phase1_epochs": 1})
        for resume in (False, True):
            with pytest.raises(runlock.RunLockError, match=f"PID {other.pid}"):
                imgclf.train(colour_dataset, cfg, out, resume=resume)
        assert (partial / "meta.json").read_text() == "{}"  # nothing of the other writer's was touched
    finally:
        other.kill()
        other.wait()


def test_stale_lock_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "run.partial"
    folder.mkdir()
    dead = _sleeper()
    dead.kill()
    dead.wait()
    _lock_as(folder, dead.pid)
    runlock.acquire(folder)
    assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()
    runlock.release(folder)
    assert not (folder / ".lock").exists()


def test_refused_new_run_leaves_no_folder(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    (empty / "only").mkdir(parents=True)
    with pytest.raises(imgclf.ImgclfError):
        imgclf.train(empty, imgclf.load_config(overrides={"backbone": "tinycnn", "weights": "none"}), tmp_path / "r")
    assert not any(p.name.startswith(("r", ".r")) for p in tmp_path.iterdir())


def test_predict_exits_non_zero_when_every_image_fails(tiny_run: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["predict", str(tiny_run), str(bad)]) == 1
    assert "no image could be read" in capsys.readouterr().err
    good = np.asarray(json.loads((tiny_run / "splits.json").read_text())["test"])[0][0]
    assert main(["predict", str(tiny_run), str(bad), good]) == 0
