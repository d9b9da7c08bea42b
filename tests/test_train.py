"""The trainer end to end on tiny models: bundle contents, accuracy, bad input, cache reuse (an interrupted run
and its resume: test_train_guards.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import imgclf
from conftest import COLOURS, make_dataset, write_image
from imgclf.config import load_config
from imgclf.data.layout import DatasetError
from imgclf.engine.cache import cache_info
from imgclf.engine.progress import ProgressEvent
from imgclf.engine.run import BundleError, Run, partial_dir
from imgclf.engine.trainer import train
from imgclf.evaluation.inputs import labelled_split

TINY = {"backbone": "tinycnn", "weights": "none", "phase1_epochs": 3, "phase2_epochs": 0, "cache_views": 0}


def test_bundle_holds_every_file_and_is_complete(tiny_run: Path):
    required = ("model.keras", "labels.json", "config.yaml", "meta.json", "history.csv")
    for name in (*required, "dataset_report.json", "splits.json", "features.npz"):
        assert (tiny_run / name).is_file(), name
    meta = json.loads((tiny_run / "meta.json").read_text())
    assert meta["complete"] is True and meta["backbone"] == "tinycnn"
    assert not partial_dir(tiny_run).exists()
    assert not (tiny_run / "checkpoints").exists()
    phases = {row["phase"] for row in csv.DictReader((tiny_run / "history.csv").open())}
    assert phases == {"1", "2"}


def test_trained_model_beats_chance_by_a_margin(tiny_run: Path):
    splits = json.loads((tiny_run / "splits.json").read_text())
    clf = imgclf.load(tiny_run)
    preds = clf.predict([p for p, _ in splits["test"]])
    accuracy = np.mean([p.label == label for p, (_, label) in zip(preds, splits["test"], strict=True)])
    assert accuracy >= 0.9  # chance is 1/3
    assert all(0 <= p.confidence <= 1 and p.status in ("ok", "uncertain", "unfamiliar") for p in preds)


def test_mixed_precision_training_saves_a_float32_bundle(tmp_path: Path):
    data = make_dataset(tmp_path / "data")
    run = train(data, load_config(overrides={**TINY, "mixed_precision": "bfloat16"}), tmp_path / "run")
    assert json.loads((run / "meta.json").read_text())["precision"] == "mixed_bfloat16"
    model = imgclf.load(run).model
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert {w.dtype for w in model.weights} == {"float32"}


def test_bad_file_is_skipped_and_listed_and_any_working_directory_finds_the_splits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """(Two tests in one, to train once: a bad file is skipped and listed; the splits are recorded so that any
    working directory finds them.)"""
    data = make_dataset(tmp_path / "data")
    (data / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / train("data", load_config(overrides=TINY), "run")  # relative paths, as typed on a command line
    report = json.loads((run / "dataset_report.json").read_text())
    assert "broken.jpg" in json.dumps(report)
    trained_on = json.loads((run / "splits.json").read_text())["train"]
    assert not any(p.endswith("broken.jpg") for p, _ in trained_on)
    monkeypatch.chdir(tmp_path / "data")
    val = labelled_split(Run(run), "val", ("blue", "red"))
    assert val and all(path.is_file() for path, _ in val)


@pytest.mark.parametrize(
    "classes, counts",
    [(("red",), {"train": 4, "val": 2}), (("red", "blue"), {"train": 1, "val": 1})],
    ids=["single-class", "one-image-class"],
)
def test_untrainable_dataset_is_refused_before_building(tmp_path: Path, classes, counts):
    data = make_dataset(tmp_path / "data", classes=classes, counts=counts)
    with pytest.raises(DatasetError):
        train(data, load_config(overrides=TINY), tmp_path / "run")
    assert not (tmp_path / "run").exists() and not partial_dir(tmp_path / "run").exists()


def test_second_run_reuses_the_feature_cache_and_gets_a_suffix_and_another_seed_does_not(tmp_path: Path):
    """(Three tests in one, to train three times instead of six: a second run of the same settings reuses every
    cached feature; an existing run name gets a suffix; random-init features are not shared across seeds.)"""
    data = make_dataset(tmp_path / "data", classes=("red", "green"))
    cfg = load_config(overrides={**TINY, "cache_views": 1, "seed": 7})
    first = train(data, cfg, tmp_path / "r")
    before = {r["name"]: r["entries"] for r in cache_info()}
    events: list[ProgressEvent] = []
    second = train(data, cfg, tmp_path / "r", progress=events.append)
    assert {r["name"]: r["entries"] for r in cache_info()} == before
    messages = {e.message for e in events if e.stage == "features"}
    assert messages == {"all features cached"}  # nothing was recomputed
    assert first.name == "r" and second.name == "r-2"
    events.clear()
    train(data, load_config(overrides={**TINY, "cache_views": 1, "seed": 8}), tmp_path / "s8", progress=events.append)
    assert any(e.stage == "features" and e.total > 0 for e in events)


def test_damaged_bundles_are_refused(tiny_run: Path, tmp_path: Path):
    import shutil

    half = tmp_path / "half"
    shutil.copytree(tiny_run, half)
    data = (half / "model.keras").read_bytes()
    (half / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="damaged"):
        imgclf.load(half)
    (half / "model.keras").unlink()
    with pytest.raises(BundleError, match=r"missing model\.keras"):
        imgclf.load(half)
    with pytest.raises(BundleError, match="does not exist"):
        imgclf.load(tmp_path / "nowhere")


def test_fine_tuning_that_hurts_keeps_the_phase1_weights(tmp_path: Path):
    from imgclf.engine.phases import KEPT_PHASE1

    # Training labels contradict validation labels, so every step of fine-tuning raises the validation loss.
    data = make_dataset(tmp_path / "data", counts={"val": 6})
    rng = np.random.default_rng(1)
    for label, colour in (("red", COLOURS["blue"]), ("blue", COLOURS["red"])):
        for i in range(12):
            write_image(data / "train" / label / f"{i}.png", colour, rng)
    cfg = load_config(overrides={**TINY, "phase1_epochs": 3, "phase2_epochs": 2, "phase2_lr": 0.01, "patience": 5})
    run = train(data, cfg, tmp_path / "run")
    assert KEPT_PHASE1 in json.loads((run / "meta.json").read_text())["notes"]
    rows = list(csv.DictReader((run / "history.csv").open()))
    best_phase1 = min(float(r["val_loss"]) for r in rows if r["phase"] == "1")
    val = json.loads((run / "splits.json").read_text())["val"]
    clf = imgclf.load(run)
    preds = clf.predict([p for p, _ in val])
    loss = -np.mean([np.log(p.probabilities[clf.classes.index(y)]) for p, (_, y) in zip(preds, val, strict=True)])
    assert loss == pytest.approx(best_phase1, rel=1e-3)
