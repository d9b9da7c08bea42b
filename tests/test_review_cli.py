"""``imgclf review`` and ``imgclf compare``: scripting decisions, the plan, --apply, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import make_dataset
from imgclf.cli.main import main
from imgclf.data.corrections import CORRECTIONS_FILE
from test_cli_quiet import PROBE, _python
from test_corrections import read_only


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", counts={"train": 4, "val": 2})


def test_review_records_lists_and_plans(data: Path, capsys) -> None:
    args = ["review", str(data), "--relabel", "train/red/red_0.png", "blue", "--exclude", "train/blue/blue_1.png"]
    assert main([*args, "--keep", str(data / "val" / "red" / "red_1.png")]) == 0
    out = capsys.readouterr().out
    assert "Recorded: relabel train/red/red_0.png (red -> blue)" in out
    assert f"Corrections are saved in {data / CORRECTIONS_FILE}" in out
    assert "3 decision(s)" in out
    assert "move     train/red/red_0.png -> train/blue/red_0.png" in out
    assert "exclude  train/blue/blue_1.png -> _excluded/train/blue/blue_1.png" in out
    assert (data / "train" / "red" / "red_0.png").is_file(), "listing moves nothing"


def test_apply_needs_yes_when_not_interactive_then_moves(data: Path, capsys, monkeypatch) -> None:
    assert main(["review", str(data), "--relabel", "train/red/red_0.png", "blue"]) == 0
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["review", str(data), "--apply"]) == 2
    assert "imgclf review: error: --apply moves files: add --yes" in capsys.readouterr().err
    assert (data / "train" / "red" / "red_0.png").is_file()
    assert main(["review", str(data), "--apply", "--yes"]) == 0
    assert "Moved 1 file(s)" in capsys.readouterr().out
    assert (data / "train" / "blue" / "red_0.png").is_file() and not (data / "train" / "red" / "red_0.png").exists()
    assert main(["review", str(data), "--apply", "--yes"]) == 0
    assert "Nothing to apply." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--relabel", "train/red/red_0.png", "purple"], "Unknown class 'purple' for the dataset"),
        (["--exclude", "train/red/missing.png"], "'train/red/missing.png' is not an image of the dataset"),
        (["--keep", "/etc/hostname"], "'/etc/hostname' is not an image of the dataset"),
    ],
)
def test_review_errors_are_one_clear_line(data: Path, capsys, args: list[str], message: str) -> None:
    assert main(["review", str(data), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgclf review: error: ") and message in err and "Traceback" not in err


def test_review_of_a_missing_dataset(tmp_path: Path, capsys) -> None:
    assert main(["review", str(tmp_path / "nope")]) == 2
    assert "nope' does not exist" in capsys.readouterr().err


def test_read_only_dataset_reviews_beside_the_runs(data: Path, tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    with read_only(data):
        assert main(["review", str(data), "--runs", str(runs), "--relabel", "train/red/red_0.png", "blue"]) == 0
        out = capsys.readouterr().out
        assert "is read-only, so corrections are saved beside the runs in" in out and str(runs) in out
        assert main(["review", str(data), "--runs", str(runs), "--apply", "--yes"]) == 2
        assert "no file was moved" in capsys.readouterr().err
        assert main(["check", str(data), "--runs", str(runs)]) == 0
        assert "1 relabelled, 0 excluded (kept beside the runs" in capsys.readouterr().out


def test_compare_refuses_a_run_that_was_not_evaluated(tiny_run: Path, tmp_path: Path, capsys) -> None:
    copy = shutil.copytree(tiny_run, tmp_path / "copy")
    shutil.rmtree(copy / "eval", ignore_errors=True)
    assert main(["compare", str(copy), str(copy)]) == 2
    err = capsys.readouterr().err
    assert "has not been evaluated; run `imgclf evaluate" in err and "Traceback" not in err


def test_review_is_a_light_command(data: Path) -> None:
    done = _python(PROBE, "review", str(data), "--relabel", "train/red/red_0.png", "blue")
    assert done.returncode == 0, done.stderr
    assert "LOADED [] EXIT 0" in done.stdout, "recording and listing decisions never loads TensorFlow"
