"""Training refuses what it cannot do well and says what it skipped: bad settings, unsafe datasets, an
unwritable feature cache, and an exact resume (schedule, early stopping, batch order) after an interruption."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import imgclf
from conftest import COLOURS, make_dataset, write_image
from imgclf.cli.main import main
from imgclf.config import load_config
from imgclf.data.layout import DatasetError
from imgclf.engine.progress import ProgressEvent
from imgclf.engine.run import BundleError, Run, partial_dir
from imgclf.engine.trainer import train

TINY = {"backbone": "tinycnn", "weights": "none", "phase1_epochs": 2, "phase2_epochs": 0, "cache_views": 0}
TINY_FLAGS = ["--backbone", "tinycnn", "--weights", "none", "--epochs", "2", "0", "--set", "cache_views=0"]


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--set", "batch_size=abc"], "batch_size='abc' is not valid; use a whole number"),
        (["--set", "input_size=abc"], "input_size='abc' is not valid; use a whole number of pixels from 32"),
        (["--set", "input_size=-5"], "input_size=-5 is not valid"),
        (["--set", "input_size=8"], "input_size=8 is not valid"),
        (["--backbone", "resnet9000"], "Unknown backbone 'resnet9000'. Did you mean"),
        (["--epochs", "0", "0"], "phase1_epochs=0 and phase2_epochs=0 would save an untrained model"),
        (["--batch-size", "0"], "batch_size=0 is not valid"),
        (["--set", "phase1_lr=fast"], "phase1_lr='fast' is not valid; use a number in (0, 1]"),
        (["--set", "head_units=[256"], "--set 'head_units=[256': '[256' is not a valid value"),
        (["--set", "=3"], "must look like KEY=VALUE"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, capsys, flags: list[str], expected: str):
    # The dataset does not exist: a settings error must be found before the dataset is even looked at.
    code, out, err = _cli(capsys, str(tmp_path / "no-such-data"), "--out", str(tmp_path / "run"), *flags)
    assert code == 2
    assert err.startswith("imgclf train: error: ") and expected in err, err
    assert "Traceback" not in out + err
    assert not (tmp_path / "run").exists() and not partial_dir(tmp_path / "run").exists()


def test_input_size_is_resolved_once_for_trainer_and_benchmarks():
    from imgclf.models.registry import get_backbone, resolve_input_size

    assert resolve_input_size(load_config(), get_backbone("resnet50")) == 288  # the training size, not 224
    assert resolve_input_size(load_config(overrides={"input_size": 96}), get_backbone("tinycnn")) == 96
    with pytest.raises(ValueError, match="input_size=64 is too small for inceptionv3, which needs at least 75"):
        load_config(overrides={"backbone": "inceptionv3", "input_size": 64})


def _leaky_dataset(root: Path) -> Path:
    data = make_dataset(root)
    shutil.copy(data / "train" / "red" / "red_0.png", data / "val" / "red" / "copy_of_train.png")
    return data


def test_unsafe_dataset_is_refused_with_the_check_summary(tmp_path: Path, capsys):
    data = _leaky_dataset(tmp_path / "data")
    code, out, err = _cli(capsys, str(data), "--out", str(tmp_path / "run"), *TINY_FLAGS)
    assert code == 2 and "Traceback" not in out + err
    assert "Dataset check: 1 error(s)" in out and "leakage: The same image is in the train and val splits" in out
    assert "not safe to train: 1 error(s) (1 leakage)" in err and "--ignore-check to train anyway" in err
    assert not (tmp_path / "run").exists() and not partial_dir(tmp_path / "run").exists()


def test_ignore_check_trains_lists_the_skipped_files_and_records_both(tmp_path: Path, capsys):
    data = _leaky_dataset(tmp_path / "data")
    (data / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (data / "train" / "blue" / "empty.png").write_bytes(b"")
    out_dir = tmp_path / "run"
    code, out, err = _cli(capsys, str(data), "--out", str(out_dir), *TINY_FLAGS, "--ignore-check")
    assert code == 0, err
    assert "Skipped 2 unusable file(s): train/blue/empty.png (zero-byte), train/red/broken.jpg (corrupt)." in out
    assert "Training anyway (--ignore-check" in out
    assert out.strip().splitlines()[-1] == str(out_dir)  # the app reads the run folder from the last line
    meta = Run.open(out_dir).meta
    assert meta["ignore_check"] is True
    assert meta["skipped_files"] == ["train/blue/empty.png (zero-byte)", "train/red/broken.jpg (corrupt)"]


def test_resume_keeps_the_decision_to_ignore_the_check(tmp_path: Path):
    data = _leaky_dataset(tmp_path / "data")
    out = tmp_path / "run"

    def interrupt(event: ProgressEvent) -> None:
        if event.stage == "phase1" and event.step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(data, load_config(overrides=TINY), out, progress=interrupt, ignore_check=True)
    with pytest.raises(DatasetError, match="leakage"):  # a fresh run on this dataset is refused...
        train(data, load_config(overrides=TINY), tmp_path / "other")
    run = train(data, load_config(overrides=TINY), out, resume=True)  # ...but the interrupted one goes on
    assert Run.open(run).meta["ignore_check"] is True


def _cache_note_trains(data: Path, out: Path) -> tuple[Path, list[ProgressEvent]]:
    events: list[ProgressEvent] = []
    run = train(data, load_config(overrides={**TINY, "seed": 11}), out, progress=events.append)
    return run, events


def test_cache_folder_that_cannot_be_written_falls_back_with_a_warning(tmp_path: Path, monkeypatch):
    data = make_dataset(tmp_path / "data")
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(blocker))  # every write under it fails (NotADirectoryError)
    run, events = _cache_note_trains(data, tmp_path / "run")
    notes = [e.message for e in events if e.stage == "note" and "Feature cache" in e.message]
    assert len(notes) == 1 and f"'{blocker}' cannot be written" in notes[0] and "IMGCLF_CACHE_DIR" in notes[0]
    assert notes[0] in Run.open(run).meta["notes"]
    assert not partial_dir(tmp_path / "run").exists()
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_falls_back_with_a_warning(tmp_path: Path, monkeypatch):
    data = make_dataset(tmp_path / "data")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o500)
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(cache))
    try:
        run, events = _cache_note_trains(data, tmp_path / "run")
    finally:
        cache.chmod(0o700)
    assert any("PermissionError" in e.message for e in events if e.stage == "note")
    assert Run.open(run).meta["complete"] is True


def _interrupting(stage: str, step: int):
    def progress(event: ProgressEvent) -> None:
        if event.stage == stage and event.step == step:
            raise KeyboardInterrupt

    return progress


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in Run(run).history()]


def _assert_same_run(resumed: Path, reference: Path) -> None:
    got, want = _rows(resumed), _rows(reference)
    assert [(r["phase"], r["epoch"]) for r in got] == [(r["phase"], r["epoch"]) for r in want]
    for a, b in zip(got, want, strict=True):  # same learning rate every epoch: the schedule went on, not restarted
        assert {k: float(v) for k, v in a.items()} == pytest.approx({k: float(v) for k, v in b.items()}, rel=1e-4)
    for a, b in zip(Run(resumed).load_model().get_weights(), Run(reference).load_model().get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_interrupted_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path: Path):
    """Also what test_train.py's test of an interrupted run checked (merged here to train twice less): the
    interrupted run is not complete, loading it says to resume, and the resumed one runs every epoch and works."""
    data = make_dataset(tmp_path / "data")
    cfg = load_config(overrides={**TINY, "phase1_epochs": 4, "phase2_epochs": 3, "cache_views": 1, "patience": 10})
    reference = train(data, cfg, tmp_path / "reference")
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # in the middle of phase 1...
        train(data, cfg, out, progress=_interrupting("phase1", 2))
    assert not out.exists() and partial_dir(out).is_dir()
    with pytest.raises(BundleError, match="resume"):
        imgclf.load(out)
    with pytest.raises(KeyboardInterrupt):  # ...and again in the middle of phase 2
        train(data, cfg, out, progress=_interrupting("phase2", 2), resume=True)
    run = train(data, cfg, out, resume=True)
    _assert_same_run(run, reference)
    assert [r["epoch"] for r in _rows(run) if r["phase"] == "2"] == ["1", "2", "3"]
    assert imgclf.load(run).predict([next((data / "test" / "red").iterdir())])[0].label == "red"


def test_resumed_early_stopping_remembers_the_epochs_before_the_interruption(tmp_path: Path):
    # Training labels contradict validation labels: every fine-tuning epoch raises the validation loss, so
    # early stopping (patience 1) stops after epoch 2 and restores epoch 1, if it remembers epoch 1.
    data = make_dataset(tmp_path / "data", counts={"val": 6})
    rng = np.random.default_rng(1)
    for label, colour in (("red", COLOURS["blue"]), ("blue", COLOURS["red"])):
        for i in range(12):
            write_image(data / "train" / label / f"{i}.png", colour, rng)
    cfg = load_config(overrides={**TINY, "phase2_epochs": 5, "phase2_lr": 0.01, "patience": 1})
    reference = train(data, cfg, tmp_path / "reference")
    assert [r["epoch"] for r in _rows(reference) if r["phase"] == "2"] == ["1", "2"]
    with pytest.raises(KeyboardInterrupt):
        train(data, cfg, tmp_path / "run", progress=_interrupting("phase2", 1))
    _assert_same_run(train(data, cfg, tmp_path / "run", resume=True), reference)


def test_classic_recipe_resumed_in_phase1_still_runs_every_phase2_epoch(tmp_path: Path):
    data = make_dataset(tmp_path / "data", counts={"train": 8, "val": 4})
    classic = {"recipe": "classic", "input_size": 32, "head_units": [], "phase2_epochs": 2, "patience": 10}
    cfg = load_config(overrides={**TINY, **classic, "phase1_epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        train(data, cfg, tmp_path / "run", progress=_interrupting("phase1", 2))
    run = train(data, cfg, tmp_path / "run", resume=True)
    epochs = [(r["phase"], r["epoch"]) for r in _rows(run)]
    assert epochs == [("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("2", "2")]
    assert Run.open(run).meta["complete"] is True
