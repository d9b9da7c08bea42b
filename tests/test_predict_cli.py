"""``imgclf predict`` and ``imgclf suspects`` on a trained tinycnn run."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from imgclf.cli.main import main
from imgclf.engine.predictor import load
from imgclf.engine.run import Run


@pytest.fixture(scope="module")
def run_copy(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's tiny run, so calibration files written here never reach other tests."""
    run = tmp_path_factory.mktemp("predict") / "run"
    shutil.copytree(tiny_run, run)
    (run / "calibration.json").unlink(missing_ok=True)
    return run


@pytest.fixture(scope="module")
def images(run_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of test images from the run's dataset, a nested one, a hidden file and a broken one."""
    folder = tmp_path_factory.mktemp("images")
    test = json.loads((run_copy / "splits.json").read_text())["test"]
    for i, (path, _) in enumerate(test[:6]):
        target = folder / ("nested" if i % 2 else "") / f"{i}_{Path(path).name}"
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / ".hidden.png").write_bytes(b"skip me")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_predict_walks_folders_and_writes_csv(run_copy, images, tmp_path):
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run_copy), str(images), "--output", str(out), "--top-k", "2"]) == 0
    rows = _read_csv(out)
    assert list(rows[0]) == ["path", "label", "confidence", "status", "ood_score", "top_k", "error", "content_hash"]
    assert len(rows) == 7  # 6 images (3 nested) + the broken one; hidden and .txt skipped
    broken = next(r for r in rows if r["path"].endswith("broken.png"))
    assert broken["status"] == "error" and "broken.png" in broken["error"]
    good = [r for r in rows if r["status"] != "error"]
    assert all(r["label"] in ("red", "green", "blue") and r["top_k"].count(":") == 2 for r in good)
    assert all(Path(r["path"]).name.split("_", 1)[1].startswith(r["label"]) for r in good)


def test_predict_json_and_table(run_copy, images, tmp_path, capsys):
    out = tmp_path / "preds.json"
    assert main(["predict", str(run_copy), str(images / "nested"), "--output", str(out), "--tta"]) == 0
    data = json.loads(out.read_text())
    assert len(data) == 3 and {"path", "label", "confidence", "status", "ood_score"} <= set(data[0])
    capsys.readouterr()
    assert main(["predict", str(run_copy), str(images / "nested")]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split()[:4] == ["path", "label", "confidence", "status"]
    assert "not calibrated" in captured.err


def test_threshold_auto_marks_uncertain_below_the_stored_threshold(run_copy, images, tmp_path):
    assert main(["predict", str(run_copy), str(images), "--threshold", "auto"]) == 2  # nothing stored yet
    exact = {Path(p.source).name: p.confidence for p in load(run_copy).predict(sorted(images.rglob("[0-9]*.png")))}
    confidences = sorted(exact.values())
    # In the widest gap between two confidences: a tiny model's near-1 confidences can differ in the 7th decimal
    # between two predict calls (batching), so a threshold between two of them would not be a fair test.
    below = max(range(1, len(confidences)), key=lambda i: confidences[i] - confidences[i - 1])
    threshold = (confidences[below - 1] + confidences[below]) / 2
    Run(run_copy).write_calibration({"temperature": 1.0, "threshold": threshold, "ood_threshold": None})
    try:
        out = tmp_path / "auto.csv"
        assert main(["predict", str(run_copy), str(images), "--threshold", "auto", "--output", str(out)]) == 0
        rows = [r for r in _read_csv(out) if r["status"] != "error"]
        assert sorted(r["status"] for r in rows) == ["ok"] * (6 - below) + ["uncertain"] * below
        # Judged on the exact confidences (the CSV rounds to 6 decimals, and a tiny model's can differ further out).
        assert all((exact[Path(r["path"]).name] < threshold) == (r["status"] == "uncertain") for r in rows)
        assert main(["predict", str(run_copy), str(images), "--threshold", "0", "--output", str(out)]) == 0
        assert {r["status"] for r in _read_csv(out)} == {"ok", "error"}
    finally:
        (run_copy / "calibration.json").unlink()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--threshold", "1.5"], "1.5"), (["--threshold", "high"], "high"), (["--top-k", "0"], "'0'")],
)
def test_predict_rejects_bad_options(run_copy, images, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(run_copy), str(images), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_predict_errors_are_one_line(run_copy, images, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(run_copy), str(empty)]) == 2
    assert main(["predict", str(run_copy), str(images), "--output", str(tmp_path / "x.txt")]) == 2
    assert main(["predict", str(run_copy), str(images), "--output", str(tmp_path / "no" / "x.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "No image files" in err[0] and "x.txt" in err[1] and "does not exist" in err[2]


def test_suspects_cli(run_copy, tmp_path, capsys):
    out = tmp_path / "suspects.csv"
    assert main(["suspects", str(run_copy), "--top", "5", "--output", str(out)]) == 0
    rows = _read_csv(out)
    assert len(rows) == 5 and {"source", "given", "suggested", "label_quality", "outlier_score"} <= set(rows[0])
    assert float(rows[0]["suspicion"]) >= float(rows[-1]["suspicion"])
    capsys.readouterr()
    assert main(["suspects", str(run_copy), "--top", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["source", "given", "suggested"]
