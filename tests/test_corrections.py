"""The corrections file and how every reader of a dataset honours it: decisions, discover, folders, read-only."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import make_dataset
from imgclf.data.check import check_dataset
from imgclf.data.corrections import (
    CORRECTIONS_FILE,
    CorrectionsError,
    apply_to_folders,
    load_corrections,
    plan_folder_changes,
)
from imgclf.data.layout import discover
from imgclf.data.review import add_image, record_decision
from imgclf.engine.run import Run
from imgclf.evaluation.inputs import labelled_split


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", counts={"train": 4, "val": 2})


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Mark every folder under ``folder`` read-only (as a read-only dataset share is), then restore it."""
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    for f in folders:
        f.chmod(0o555)
    try:
        yield
    finally:
        for f in folders:
            f.chmod(0o755)


def labels(data: Path, **kwargs) -> dict[str, tuple[str, str]]:
    layout = discover(data, **kwargs)
    base = layout.root.parent if layout.root.is_file() else layout.root
    return {s.path.relative_to(base).as_posix(): (s.split, s.label) for s in layout.samples}


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decisions_relabel_and_exclude_what_every_reader_sees(data: Path) -> None:
    record_decision(data, "train/red/red_0.png", "relabel", "blue")
    record_decision(data, data / "train" / "blue" / "blue_1.png", "exclude")
    record_decision(data, "val/red/red_1.png", "keep")
    layout = discover(data)
    seen = {s.path.name: s.label for s in layout.samples if s.split == "train"}
    assert seen["red_0.png"] == "blue" and "blue_1.png" not in seen
    assert [s.path.name for s in layout.excluded] == ["blue_1.png"]
    assert [(p.name, old, new) for p, old, new in layout.relabelled] == [("red_0.png", "red", "blue")]
    assert layout.corrections == data / CORRECTIONS_FILE
    report = check_dataset(data)
    assert report.counts["train"] == {"blue": 4, "red": 3}
    assert report.to_dict()["corrections"]["excluded"] == ["train/blue/blue_1.png"]
    assert any("1 relabelled, 1 excluded" in note for note in report.notes)
    assert not any(CORRECTIONS_FILE in str(p) for p in layout.ignored), "the corrections file is not a stray file"
    assert set(labels(data, corrections=False).values()) >= {("train", "red")}, "the folders are untouched"


def test_the_latest_decision_wins_and_keep_confirms_the_label_shown(data: Path) -> None:
    record_decision(data, "train/red/red_0.png", "relabel", "blue")
    assert record_decision(data, "train/red/red_0.png", "keep").new_label == "blue"
    assert labels(data)["train/red/red_0.png"] == ("train", "blue")
    record_decision(data, "train/red/red_0.png", "exclude")
    assert "train/red/red_0.png" not in labels(data)
    back = record_decision(data, "train/red/red_0.png", "relabel", "red")  # an excluded image can come back
    assert (back.action, labels(data)["train/red/red_0.png"]) == ("relabel", ("train", "red"))
    book = load_corrections(data)
    assert len(book.decisions) == 4 and book.latest["train/red/red_0.png"] == back


def test_corrections_never_move_other_images_between_splits(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "flat", counts={"train": 10})
    for label in ("red", "blue"):  # one folder of classes: imgclf splits it
        (data / "train" / label).rename(data / label)
    (data / "train").rmdir()
    before = labels(data)
    record_decision(data, "red/red_3.png", "relabel", "blue")
    record_decision(data, "blue/blue_2.png", "exclude")
    add_image(data, png_bytes(), "new photo.png", "red")
    after = labels(data)
    assert after.pop("red/new-photo.png") == ("train", "red"), "added photos always train"
    assert after.pop("red/red_3.png") == (before["red/red_3.png"][0], "blue"), "relabelled: same split"
    del before["red/red_3.png"], before["blue/blue_2.png"]
    assert after == before


def test_bad_decisions_are_refused_with_the_bad_value(data: Path) -> None:
    with pytest.raises(CorrectionsError, match=r"Unknown class 'purple'.*blue, red"):
        record_decision(data, "train/red/red_0.png", "relabel", "purple")
    with pytest.raises(CorrectionsError, match=r"'train/red/nope\.png' is not an image of the dataset"):
        record_decision(data, "train/red/nope.png", "exclude")
    with pytest.raises(CorrectionsError, match=r"Unknown review action 'delete'"):
        record_decision(data, "train/red/red_0.png", "delete")
    with pytest.raises(CorrectionsError, match=r"'notes\.txt' cannot be added"):
        add_image(data, b"not an image", "notes.txt", "red")
    assert not (data / CORRECTIONS_FILE).exists(), "nothing was recorded"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,label\nx,y\n", "must start with the header path,old_label,new_label,action,when"),
        ("path,old_label,new_label,action,when\ntrain/red/red_0.png,red,,shred,now\n", r"line 2 .*action 'shred'"),
    ],
)
def test_a_damaged_corrections_file_is_named(data: Path, text: str, message: str) -> None:
    (data / CORRECTIONS_FILE).write_text(text)
    with pytest.raises(CorrectionsError, match=message):
        discover(data)


def test_apply_shows_a_plan_then_moves_files_and_never_deletes(data: Path) -> None:
    record_decision(data, "train/red/red_0.png", "relabel", "blue")
    record_decision(data, "train/blue/blue_1.png", "exclude")
    (data / "train" / "blue" / "red_0.png").write_bytes(png_bytes((40, 60, 200)))  # the name is taken there
    corrected = labels(data)
    files_before = len(list(data.rglob("*.png")))
    plan = plan_folder_changes(load_corrections(data))
    assert plan.lines() == [
        "exclude  train/blue/blue_1.png -> _excluded/train/blue/blue_1.png",
        "move     train/red/red_0.png -> train/blue/red_0-2.png",
    ]
    assert (data / "train" / "red" / "red_0.png").is_file(), "planning touches nothing"
    book = apply_to_folders(plan)
    assert len(list(data.rglob("*.png"))) == files_before, "no file deleted"
    assert (data / "_excluded" / "train" / "blue" / "blue_1.png").is_file()
    assert [d.action for d in book.decisions[-2:]] == ["applied", "applied"]
    assert not plan_folder_changes(book).changes, "applied decisions are done"
    moved = labels(data)
    assert moved.pop("train/blue/red_0-2.png") == corrected.pop("train/red/red_0.png")
    assert moved == corrected, "the folders now say what the corrections said"


def test_a_read_only_dataset_keeps_its_corrections_beside_the_runs(data: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with read_only(data):
        book = load_corrections(data, runs)
        assert not book.in_dataset and book.file.parent == runs / "corrections"
        assert "read-only" in book.where() and str(book.file) in book.where()
        record_decision(data, "train/red/red_0.png", "relabel", "blue", runs=runs)
        assert labels(data, runs=runs)["train/red/red_0.png"] == ("train", "blue")
        assert labels(data, runs=tmp_path / "elsewhere")["train/red/red_0.png"] == ("train", "red")
        with pytest.raises(CorrectionsError, match=r"read-only.*no file was moved"):
            apply_to_folders(plan_folder_changes(load_corrections(data, runs)))
        with pytest.raises(CorrectionsError, match=r"read-only, so 'x\.png' cannot be added"):
            add_image(data, png_bytes(), "x.png", "red", runs=runs)
    assert (data / "train" / "red" / "red_0.png").is_file() and not (data / CORRECTIONS_FILE).exists()


def test_added_photos_get_a_safe_unique_name_with_their_real_extension(data: Path) -> None:
    first = add_image(data, png_bytes(), "../../evil name.jpg", "red")
    second = add_image(data, png_bytes(), "../../evil name.jpg", "red")
    assert (first.path, second.path) == ("train/red/evil-name.png", "train/red/evil-name-2.png")
    assert (first.action, first.new_label) == ("add", "red")
    assert labels(data)["train/red/evil-name-2.png"] == ("train", "red")


def test_a_csv_dataset_takes_added_photos_and_relabels(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "imgs", counts={"train": 4})
    rows = ["path,label"] + [f"{p.relative_to(data).as_posix()},{p.parent.name}" for p in sorted(data.rglob("*.png"))]
    csv_file = data / "labels.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    record_decision(csv_file, "train/red/red_0.png", "relabel", "blue")
    added = add_image(csv_file, png_bytes(), "extra.png", "blue")
    assert added.path == "added/blue/extra.png"
    seen = labels(csv_file)
    assert seen["train/red/red_0.png"][1] == "blue" and seen["added/blue/extra.png"] == ("train", "blue")
    assert "CSV" in plan_folder_changes(load_corrections(csv_file)).problems[0]


def test_excluded_folder_is_not_a_class(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "flat", counts={"train": 4})
    for label in ("red", "blue"):
        (data / "train" / label).rename(data / label)
    (data / "train").rmdir()
    (data / "_excluded" / "red").mkdir(parents=True)
    (data / "_excluded" / "red" / "gone.png").write_bytes(png_bytes())
    assert discover(data).classes == ("blue", "red")


def test_evaluation_reads_the_run_splits_with_todays_corrections(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    val = [[os.path.abspath(p), p.parent.name] for p in sorted((data / "val").rglob("*.png"))]
    (run / "splits.json").write_text(json.dumps({"train": [], "val": val, "test": []}))
    (run / "meta.json").write_text(json.dumps({"dataset": str(data.resolve())}))
    record_decision(data, "val/red/red_0.png", "relabel", "blue")
    record_decision(data, "val/blue/blue_1.png", "exclude")
    pairs = {p.name: i for p, i in labelled_split(Run(run), "val", ("blue", "red"))}
    assert pairs == {"blue_0.png": 0, "red_0.png": 0, "red_1.png": 1}
