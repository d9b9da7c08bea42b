"""Dataset health check: each kind of problem is found, explained, and reflected in the CLI exit status."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image

from data_helpers import make_dataset, photo, write_huge_png, write_photo
from imgclf.cli.main import main
from imgclf.data.check import _phash, check_dataset
from imgclf.data.layout import DatasetError
from imgclf.data.samples import sample_dataset

CLEAN = {"train": {"ants": 6, "bees": 6}, "val": {"ants": 2, "bees": 2}, "test": {"ants": 2, "bees": 2}}


@pytest.fixture()
def clean(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", CLEAN)


def _kinds(report) -> dict[str, str]:
    return {i.kind: i.severity for i in report.issues}


def test_clean_dataset_is_safe_and_cli_exits_0(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = check_dataset(clean)
    assert report.issues == ()
    assert report.is_safe and report.bad_files == frozenset()
    assert report.counts == {s: dict(per_class) for s, per_class in CLEAN.items()}
    assert report.formats == {"JPEG": 20}
    assert report.imbalance == 1.0
    report.raise_if_untrainable()
    assert main(["check", str(clean)]) == 0
    out = capsys.readouterr().out
    assert "SAFE to train" in out and "ants" in out


def _truncated(keep: float):
    def write(path: Path) -> None:
        photo(7, 128).save(path, quality=90)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return write


@pytest.mark.parametrize(
    ("write", "kind"),
    [
        (_truncated(0.6), "corrupt"),
        (_truncated(0.1), "corrupt"),  # cut inside the header
        (lambda p: p.write_text("not a photo at all\n"), "not-image"),
        (lambda p: p.write_bytes(b""), "zero-byte"),
    ],
)
def test_unusable_file_is_an_error_and_skipped(clean: Path, write, kind: str, capsys) -> None:
    bad = clean / "train" / "ants" / "bad.jpg"
    write(bad)
    report = check_dataset(clean)
    issue = next(i for i in report.issues if i.kind == kind)
    assert issue.severity == "error" and issue.paths == (bad,)
    assert "train/ants/bad.jpg" in issue.message
    assert report.bad_files == {bad}
    assert report.counts["train"]["ants"] == 6  # counts are usable images only
    assert not report.is_safe
    assert main(["check", str(clean)]) == 1
    assert "NOT safe" in capsys.readouterr().out


def test_cross_split_duplicate_is_leakage(clean: Path) -> None:
    shutil.copy(clean / "train" / "bees" / "bees_000.jpg", clean / "test" / "bees" / "copy.jpg")
    report = check_dataset(clean)
    assert _kinds(report) == {"leakage": "error"}
    leak = [i for i in report.issues if i.kind == "leakage"]
    assert len(leak) == 1
    assert set(leak[0].paths) == {clean / "train" / "bees" / "bees_000.jpg", clean / "test" / "bees" / "copy.jpg"}
    assert "train and test splits" in leak[0].message
    assert main(["check", str(clean)]) == 1


def test_duplicate_within_a_class_is_a_warning(clean: Path) -> None:
    shutil.copy(clean / "train" / "ants" / "ants_000.jpg", clean / "train" / "ants" / "again.jpg")
    report = check_dataset(clean)
    assert _kinds(report) == {"duplicate": "warning"}
    assert report.is_safe


@pytest.mark.parametrize(("split", "kinds"), [("train", {"label-conflict"}), ("val", {"label-conflict", "leakage"})])
def test_one_photo_under_two_classes_is_a_label_conflict(
    clean: Path, split: str, kinds: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    original = clean / "train" / "ants" / "ants_000.jpg"
    shutil.copy(original, clean / split / "bees" / "also_a_bee.jpg")
    report = check_dataset(clean)
    assert {i.kind for i in report.issues} == kinds and {i.severity for i in report.issues} == {"error"}
    conflict = next(i for i in report.issues if i.kind == "label-conflict")
    assert set(conflict.paths) == {original, clean / split / "bees" / "also_a_bee.jpg"}
    assert "2 classes (ants, bees)" in conflict.message
    assert "train/ants/ants_000.jpg [train/ants]" in conflict.message
    assert f"{split}/bees/also_a_bee.jpg [{split}/bees]" in conflict.message
    leakage = [i for i in report.issues if i.kind == "leakage"]
    assert all("classes" not in i.message for i in leakage)  # the conflict is not hidden inside the leakage
    assert main(["check", str(clean)]) == 1
    assert "ERROR   label-conflict: The same image is filed under 2 classes" in capsys.readouterr().out


def test_huge_image_is_reported_with_its_real_size(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = write_huge_png(clean / "train" / "ants" / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 10_000
    report = check_dataset(clean)
    issue = next(i for i in report.issues if i.kind == "too-large")
    assert issue.severity == "error" and issue.paths == (bomb,)
    assert "train/ants/bomb.png is 30000x30000 pixels (900 Mpx), over the 89 Mpx limit" in issue.message
    assert report.bad_files == {bomb} and report.counts["train"]["ants"] == 6
    assert main(["check", str(clean)]) == 1
    out = capsys.readouterr().out
    assert "30000x30000 pixels (900 Mpx)" in out and "0x0" not in out


def test_image_over_the_cap_is_refused_without_pillows_warning(clean: Path) -> None:
    big = write_huge_png(clean / "train" / "bees" / "big.png", 10000, 9500)  # 95 Mpx: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        report = check_dataset(clean)
    assert [i.kind for i in report.issues] == ["too-large"] and report.bad_files == {big}
    assert "10000x9500 pixels (95 Mpx), over the 89 Mpx limit" in report.issues[0].message


def test_formats_count_usable_images_and_unusable_files_are_listed_apart(clean: Path) -> None:
    _truncated(0.6)(clean / "train" / "ants" / "cut.jpg")  # a readable JPEG header, then not enough data
    write_huge_png(clean / "val" / "bees" / "bomb.png", 30000, 30000)
    (clean / "test" / "ants" / "empty.jpg").write_bytes(b"")
    report = check_dataset(clean)
    assert report.formats == {"JPEG": 20}
    assert report.unusable == {"corrupt": 1, "too-large": 1, "zero-byte": 1}
    assert report.to_dict()["unusable"] == report.unusable
    table = report.format_table()
    assert "Formats: JPEG 20\n" in table
    assert "Unusable files (left out of the counts above, skipped in training): " in table
    assert "corrupt 1" in table and "too-large 1" in table and "zero-byte 1" in table


def test_perceptual_hash_is_imagehash_phash_bit_for_bit() -> None:
    # Recorded with imagehash 4.3's phash (SciPy's DCT), which the near-duplicate distance was tuned with.
    assert {seed: _phash(photo(seed, 128)) for seed in (1, 7)} == {1: 0xA1D6A939EC0C16F3, 7: 0xA3D2A487ACBC5B43}


def test_near_duplicate_across_splits(clean: Path) -> None:
    source = Image.open(clean / "train" / "ants" / "ants_003.jpg")
    source.resize((56, 56)).save(clean / "val" / "ants" / "resaved.jpg", quality=60)
    report = check_dataset(clean)
    near = [i for i in report.issues if i.kind == "near-duplicate"]
    assert len(near) == 1
    assert near[0].paths == (clean / "train" / "ants" / "ants_003.jpg", clean / "val" / "ants" / "resaved.jpg")
    assert "leakage" not in _kinds(report)
    assert check_dataset(clean, near_dup_distance=-1).issues == ()


def test_warnings_for_tiny_mislabelled_extension_and_graphic_outlier(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"ants": 12, "bees": 12}, "val": {"ants": 2, "bees": 2}})
    write_photo(data / "train" / "bees" / "small.jpg", 100, size=16)
    write_photo(data / "train" / "bees" / "really_jpeg.png", 101)
    Image.new("P", (64, 64), 0).save(data / "train" / "ants" / "placeholder.gif")
    report = check_dataset(data)
    by_path = {i.paths[0].name: i for i in report.issues}
    assert by_path["small.jpg"].kind == "tiny"
    assert by_path["really_jpeg.png"].kind == "extension-mismatch"
    assert "holds JPEG data" in by_path["really_jpeg.png"].message
    assert by_path["placeholder.gif"].kind == "outlier"
    assert "the only GIF" in by_path["placeholder.gif"].message
    assert "distinct colours" in by_path["placeholder.gif"].message
    assert {i.severity for i in report.issues} == {"warning"}
    assert report.formats == {"JPEG": 30, "GIF": 1}


def test_missing_class_in_split_and_ignored_files(clean: Path) -> None:
    shutil.rmtree(clean / "test" / "bees")
    (clean / "train" / "ants" / ".DS_Store").write_bytes(b"\0\0")
    report = check_dataset(clean)
    assert _kinds(report) == {"missing-class": "warning"}
    assert report.ignored == (clean / "train" / "ants" / ".DS_Store",)
    assert report.to_dict()["ignored"] == ["train/ants/.DS_Store"]


def test_json_output_parses_with_relative_paths(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean / "val" / "bees" / "notes.jpg").write_text("hello")
    assert main(["check", "--json", str(clean)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["is_safe"] is False
    assert data["counts"]["val"] == {"ants": 2, "bees": 2}
    assert data["bad_files"] == ["val/bees/notes.jpg"]
    assert data["issues"][0]["kind"] == "not-image" and data["issues"][0]["paths"] == ["val/bees/notes.jpg"]


def test_cli_split_and_seed_reach_the_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "data", {"": {"ants": 10, "bees": 10}})
    assert main(["check", "--json", "--split", "0.6", "0.2", "0.2", "--seed", "5", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["test"] == {"ants": 2, "bees": 2}
    assert main(["check", "--split", "0.6", "0.6", "0.2", str(data)]) == 2  # a clear error, not a crash


def _empty_class(root: Path) -> None:
    make_dataset(root, {"train": {"ants": 3}, "val": {"ants": 1}})
    (root / "train" / "bees").mkdir(parents=True)


def _single_class(root: Path) -> None:
    make_dataset(root, {"train": {"ants": 3}, "val": {"ants": 1}})


def _one_image_class(root: Path) -> None:
    make_dataset(root, {"train": {"ants": 3, "bees": 1}, "val": {"ants": 1, "bees": 1}})


def _all_corrupt_class(root: Path) -> None:
    make_dataset(root, {"train": {"ants": 3}, "val": {"ants": 1}})
    for i in range(3):
        (root / "train" / "bees").mkdir(parents=True, exist_ok=True)
        (root / "train" / "bees" / f"{i}.jpg").write_bytes(b"")


@pytest.mark.parametrize(
    ("build", "kind", "message"),
    [
        (_empty_class, "empty-class", r"\['bees'\] have no usable training images"),
        (_single_class, "too-few-classes", r"Only 1 class \['ants'\]"),
        (_one_image_class, "too-few-images", r"fewer than 2 usable images .*\{'bees': 1\}"),
        (_all_corrupt_class, "too-few-images", r"\['bees'\] have no usable training images"),
    ],
)
def test_untrainable_datasets_raise_a_clear_error(tmp_path: Path, build, kind: str, message: str) -> None:
    build(tmp_path / "data")
    report = check_dataset(tmp_path / "data")
    assert _kinds(report)[kind] == "error"
    with pytest.raises(DatasetError, match=message):
        report.raise_if_untrainable()
    assert main(["check", str(tmp_path / "data")]) == 1


def test_table_caps_repeated_issues(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"ants": 3, "bees": 3}, "val": {"ants": 1, "bees": 1}})
    for i in range(8):
        (data / "train" / "ants" / f"empty{i}.jpg").write_bytes(b"")
    table = check_dataset(data).format_table()
    assert table.count("zero-byte:") == 5
    assert "... and 3 more zero-byte" in table


def test_bundled_sample_dataset_is_clean_and_ships_its_labels() -> None:
    root = sample_dataset()
    report = check_dataset(root)
    per_class = {"train": 40, "val": 12, "test": 15}
    assert report.counts == {split: {"ants": n, "bees": n} for split, n in per_class.items()}
    assert report.issues == () and report.formats == {"JPEG": 134}
    assert max(max(Image.open(s.path).size) for s in report.layout.samples) == 256
    labels = json.loads((root.parent / "imagenet_labels.json").read_text(encoding="utf-8"))
    assert len(labels) == 1000 and labels["0"] == "tench"


@pytest.mark.integration
def test_hymenoptera_report() -> None:
    root = Path(os.environ.get("IMGCLF_TEST_DATA", "")) / "hymenoptera"
    if not os.environ.get("IMGCLF_TEST_DATA") or not root.is_dir():
        pytest.skip("IMGCLF_TEST_DATA is not set (it should hold hymenoptera/{train,val})")
    report = check_dataset(root)
    assert report.counts == {"train": {"ants": 124, "bees": 121}, "val": {"ants": 70, "bees": 83}}
    assert report.formats == {"JPEG": 397, "GIF": 1}
    flagged = {p.name for i in report.issues for p in i.paths}
    assert "imageNotFound.gif" in flagged
    assert "formica.jpeg" not in flagged  # .jpeg holding JPEG is fine
    assert not {"leakage", "corrupt", "not-image"} & {i.kind for i in report.issues}
    assert report.is_safe
