"""The Dataset page through AppTest: reports with thumbnails, data roots, uploaded zips (safe, cleaned up)."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_helpers import all_text, open_page, png, zip_bytes
from conftest import make_dataset
from imgclf.app.components.archive import ArchiveError, UploadedZip, extract_zip
from imgclf.app.components.datasets import FOLDER, ZIP


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders (zip extractions) go here, so the test sees what is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _dataset_page(tmp_path: Path, roots: list[Path] | None = None) -> AppTest:
    at = open_page(tmp_path / "runs", "dataset", roots=roots or [tmp_path])
    at.radio(key="dataset-mode").set_value(FOLDER).run()
    return at


def _colour_zip(name: str = "data", n: int = 3) -> bytes:
    entries = {f"{name}/{label}/{label}_{i}.png": png(c, seed=i) for label, c in (("red", (200, 40, 40)),
               ("blue", (40, 60, 200))) for i in range(n)}  # fmt: skip
    return zip_bytes(entries)


def test_dataset_page_reports_problems_with_thumbnails(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", counts={"train": 4, "val": 2})
    (data / "train" / "red" / "broken.png").write_bytes(b"\x89PNG not really")
    at = _dataset_page(tmp_path)
    at.text_input(key="dataset-folder").set_value("data").run()  # relative to the data root
    at.button(key="check").click().run()
    assert not at.exception, at.exception
    assert any("Not safe to train: fix the 1 error below (0 warnings)" in e.value for e in at.error), "plurals"
    assert any(r"broken\.png" in c.value for c in at.caption), "the problem file is named under its thumbnail"
    counts = at.dataframe[0].value
    assert counts.loc["red", "train"] == 4 and counts.loc["blue", "train"] == 4


def test_the_shipped_sample_is_checked_by_default(tmp_path: Path) -> None:
    at = open_page(tmp_path / "runs", "dataset", roots=[tmp_path])
    at.button(key="check").click().run()
    assert not at.exception, at.exception
    assert any("Safe to train" in s.value for s in at.success)


def test_dataset_page_missing_folder_gets_a_message(tmp_path: Path) -> None:
    at = _dataset_page(tmp_path)
    at.text_input(key="dataset-folder").set_value(str(tmp_path / "nope")).run()
    at.button(key="check").click().run()
    assert not at.exception, at.exception
    assert at.error and "nope" in at.error[0].value


@pytest.mark.parametrize("typed", ["/etc", "../..", "escape"])
def test_folders_outside_the_data_roots_are_refused(tmp_path: Path, typed: str) -> None:
    """Issue 14: a remote user could check /etc (1,077 server files) and see thumbnails of any folder."""
    root = tmp_path / "datasets"
    root.mkdir()
    (root / "escape").symlink_to("/etc")  # a link inside the root that leads out of it
    at = _dataset_page(tmp_path, roots=[root])
    at.text_input(key="dataset-folder").set_value(typed).run()
    assert not at.exception, at.exception
    assert any("outside the folders this app may read" in e.value and "imgclf app \\-\\-data" in e.value
               for e in at.error)  # fmt: skip
    assert at.button(key="check").disabled
    assert not at.dataframe


def test_a_new_invalid_zip_hides_the_previous_report(tmp_path: Path, private_tmp: Path) -> None:
    """Defect 4: the report of the previous zip stayed under the error of the new one."""
    at = open_page(tmp_path / "runs", "dataset", roots=[tmp_path])
    at.radio(key="dataset-mode").set_value(ZIP).run()
    at.file_uploader(key="dataset-zip").set_value(("good.zip", _colour_zip(), "application/zip")).run()
    at.button(key="check").click().run()
    assert at.subheader and at.dataframe, "the first zip's report"
    at.file_uploader(key="dataset-zip").set_value(("bad.zip", b"PK not a zip", "application/zip")).run()
    assert not at.exception, at.exception
    assert any("not a valid zip" in e.value for e in at.error)
    assert not at.subheader and not at.dataframe, "no stale report under the error"
    assert list(private_tmp.iterdir()) == [], "the old extraction is deleted and the refused zip left nothing"


def test_a_replaced_zip_is_deleted_and_the_last_one_kept_for_the_session(tmp_path: Path, private_tmp: Path) -> None:
    at = open_page(tmp_path / "runs", "dataset", roots=[tmp_path])
    at.radio(key="dataset-mode").set_value(ZIP).run()
    at.file_uploader(key="dataset-zip").set_value(("one.zip", _colour_zip("one"), "application/zip")).run()
    first = list(private_tmp.iterdir())
    at.file_uploader(key="dataset-zip").set_value(("two.zip", _colour_zip("two"), "application/zip")).run()
    second = list(private_tmp.iterdir())
    assert len(first) == len(second) == 1 and first != second, "one extraction at a time"
    at.switch_page("pages/settings.py").run()
    at.switch_page("pages/dataset.py").run()
    assert any("Using two.zip, uploaded earlier" in c.value.replace("\\", "") for c in at.caption)
    assert not at.button(key="check").disabled


def test_an_extraction_is_deleted_with_its_session(private_tmp: Path) -> None:
    upload = UploadedZip("data.zip", "id-1", _colour_zip())
    assert (upload.root / "red").is_dir()
    del upload
    gc.collect()
    assert list(private_tmp.iterdir()) == []


def test_a_refused_zip_leaves_no_folder(private_tmp: Path) -> None:
    with pytest.raises(ArchiveError, match="outside the archive"):
        UploadedZip("evil.zip", "id-2", zip_bytes({"../evil.txt": b"z"}))
    assert list(private_tmp.iterdir()) == []


def test_train_on_this_dataset_opens_the_train_page_with_it(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data", counts={"train": 4, "val": 2})
    at = _dataset_page(tmp_path)
    at.text_input(key="dataset-folder").set_value("data").run()
    at.button(key="check").click().run()
    at.button(key="train_on_it").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train a model"
    assert at.radio(key="train-mode").value == FOLDER and at.text_input(key="train-folder").value == "data"
    assert not at.button(key="start").disabled
    assert "outside" not in all_text(at)


def test_zip_extraction_is_safe(tmp_path: Path) -> None:
    root = extract_zip(
        zip_bytes({"data/ants/a.jpg": b"x", "data/bees/b.jpg": b"y", "__MACOSX/._a": b""}), tmp_path / "ok"
    )
    assert root == tmp_path / "ok" / "data" and sorted(p.name for p in root.iterdir()) == ["ants", "bees"]
    for bad in ("../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:/evil.txt"):
        with pytest.raises(ArchiveError, match="outside the archive"):
            extract_zip(zip_bytes({bad: b"z"}), tmp_path / "bad")
        assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "bad").exists()
    with pytest.raises(ArchiveError, match="not a valid zip"):
        extract_zip(b"PK not a zip", tmp_path / "junk")


def test_zip_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgclf.app.components.archive as archive

    monkeypatch.setattr(archive, "MAX_EXTRACTED_BYTES", 1000)
    with pytest.raises(ArchiveError, match="more than 1,000 bytes"):
        extract_zip(zip_bytes({"a/x.bin": b"0" * 800, "a/y.bin": b"0" * 800}), tmp_path / "big")
    assert not (tmp_path / "big").exists()
