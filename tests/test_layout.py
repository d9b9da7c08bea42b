"""Dataset discovery: every supported layout, splitting, hidden files and clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from data_helpers import make_dataset, write_photo
from imgclf.data.layout import DatasetError, discover


def _counts(layout) -> dict[tuple[str, str], int]:
    return dict(Counter((s.split, s.label) for s in layout.samples))


@pytest.mark.parametrize(
    ("splits", "kind", "note"),
    [
        (("train", "val", "test"), "train/val/test", None),
        (("train", "val"), "train/val", "No test folder"),
        (("train", "validation", "test"), "train/val/test", None),
    ],
)
def test_split_folders_are_taken_as_given(tmp_path: Path, splits, kind: str, note: str | None) -> None:
    make_dataset(tmp_path, {split: {"ants": 4, "bees": 3} for split in splits})
    layout = discover(tmp_path)
    assert layout.kind == kind
    assert layout.classes == ("ants", "bees")
    expected = {("val" if s == "validation" else s, c): n for s in splits for c, n in (("ants", 4), ("bees", 3))}
    assert _counts(layout) == expected
    assert any(note in n for n in layout.notes) if note else not layout.notes


def test_train_test_carves_a_stratified_val_from_train(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"train": {"ants": 20, "bees": 10}, "test": {"ants": 5, "bees": 5}})
    layout = discover(tmp_path, split=(0.7, 0.15, 0.15), seed=0)
    counts = _counts(layout)
    assert layout.kind == "train/test"
    assert counts[("train", "ants")] + counts[("val", "ants")] == 20
    assert counts[("val", "ants")] == 4 and counts[("val", "bees")] == 2  # 15/85 of each class, rounded
    assert counts[("test", "ants")] == 5
    assert any("carved" in n for n in layout.notes)
    again = discover(tmp_path, split=(0.7, 0.15, 0.15), seed=0)
    assert again.samples == layout.samples


def test_class_folders_split_70_15_15_per_class_with_seed(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"": {"ants": 20, "bees": 20, "wasps": 7}})
    layout = discover(tmp_path, seed=3)
    counts = _counts(layout)
    assert layout.kind == "class-folders"
    for label in ("ants", "bees"):
        assert (counts[("train", label)], counts[("val", label)], counts[("test", label)]) == (14, 3, 3)
    assert counts[("train", "wasps")] >= 1 and counts[("val", "wasps")] >= 1 and counts[("test", "wasps")] >= 1
    assert sum(counts.values()) == 47
    assert discover(tmp_path, seed=3).samples == layout.samples
    assert {s.path for s in discover(tmp_path, seed=4).split("val")} != {s.path for s in layout.split("val")}


def _write_csv(tmp_path: Path, rows: list[str], header: str = "path,label,split", bom: bool = False) -> Path:
    csv_path = tmp_path / "labels.csv"
    text = "\n".join([header, *rows]) + "\n"
    csv_path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return csv_path


def test_csv_with_split_column(tmp_path: Path) -> None:
    write_photo(tmp_path / "img" / "a.jpg", 1)
    write_photo(tmp_path / "img" / "b.jpg", 2)
    csv_path = _write_csv(tmp_path, ["img/a.jpg,ants,train", "img/b.jpg,bees,Valid"], bom=True)
    layout = discover(csv_path)
    assert layout.kind == "csv"
    assert [(s.path, s.label, s.split) for s in layout.samples] == [
        (tmp_path / "img" / "a.jpg", "ants", "train"),
        (tmp_path / "img" / "b.jpg", "bees", "val"),
    ]


def test_csv_without_split_column_is_split_stratified(tmp_path: Path) -> None:
    rows = [f"img/{label}{i}.jpg,{label}" for label in ("ants", "bees") for i in range(20)]
    layout = discover(_write_csv(tmp_path, rows, header="path,label"), seed=1)
    counts = _counts(layout)
    assert counts[("train", "ants")] == 14 and counts[("val", "bees")] == 3 and counts[("test", "ants")] == 3
    assert any("Split 40 rows" in n for n in layout.notes)


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("file,class", ["a.jpg,ants"], "needs a header with 'path' and 'label'"),
        ("path,label,split", ["a.jpg,ants,holdout"], "split 'holdout'; use train, val or test"),
        ("path,label,split", ["a.jpg,ants,train", "b.jpg,bees,"], "split for 1 of 2 rows"),
        ("path,label", ["a.jpg,ants", "b.jpg"], "line 3 has no path or no label"),
    ],
    ids=["bad-header", "unknown-split", "partial-split", "missing-label"],
)
def test_bad_csv_is_a_clear_dataset_error(tmp_path: Path, header: str, rows: list[str], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        discover(_write_csv(tmp_path, rows, header=header))


def test_hidden_and_system_files_are_ignored_and_listed(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"train": {"ants": 2, "bees": 2}, "val": {"ants": 1, "bees": 1}})
    junk = [
        tmp_path / "train" / "ants" / ".DS_Store",
        tmp_path / "train" / "bees" / "Thumbs.db",
        tmp_path / "train" / "ants" / ".ipynb_checkpoints" / "x-checkpoint.jpg",
        tmp_path / "train" / ".ipynb_checkpoints" / "y.jpg",
    ]
    for path in junk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"junk")
    layout = discover(tmp_path)
    assert layout.classes == ("ants", "bees")
    assert set(layout.ignored) == set(junk)
    assert not {s.path for s in layout.samples} & set(junk)
    assert len(layout.samples) == 6


def test_empty_class_folder_is_recorded(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"train": {"ants": 2}, "val": {"ants": 1}})
    (tmp_path / "train" / "bees").mkdir()
    layout = discover(tmp_path)
    assert layout.classes == ("ants", "bees")
    assert layout.empty_classes == (("train", "bees"),)


def test_missing_dataset_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DatasetError, match=r"no-such-folder' does not exist; pass a folder"):
        discover(missing)


def test_split_folders_without_train_are_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"val": {"ants": 1}, "test": {"ants": 1}})
    with pytest.raises(DatasetError, match="no 'train' folder"):
        discover(tmp_path)


@pytest.mark.parametrize("split", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (0.8, 0.2), (1.2, -0.1, -0.1)])
def test_bad_split_fractions_are_refused(tmp_path: Path, split) -> None:
    make_dataset(tmp_path, {"": {"ants": 3, "bees": 3}})
    with pytest.raises(DatasetError, match=r"must be three train/val/test fractions"):
        discover(tmp_path, split=split)
