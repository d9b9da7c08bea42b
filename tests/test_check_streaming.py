"""The dataset check reads each file in a stream, and never reads one over the per-file size limit."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pytest

import imgclf.data.check as check
from conftest import make_dataset


def test_a_file_over_the_limit_is_reported_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: a zip under the extraction cap could still hold a 600 MB file that check read at once."""
    data = make_dataset(tmp_path / "data", counts={"train": 3, "val": 2})
    big = data / "train" / "red" / "huge.png"
    big.write_bytes(b"\x89PNG" + bytes(30_000_000))
    monkeypatch.setattr(check, "MAX_FILE_BYTES", 1_000_000)
    tracemalloc.start()
    try:
        report = check.check_dataset(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    issue = next(i for i in report.issues if big in i.paths)
    assert issue.kind == "file-too-large" and issue.severity == "error"
    assert "30,000,004 bytes, over the limit of 1,000,000 bytes a file" in issue.message
    assert peak < 10_000_000, f"the 30 MB file was read into memory (peak {peak:,} bytes)"
    assert report.counts["train"]["red"] == 3 and big in report.bad_files


def test_streamed_hashes_still_find_duplicates(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", counts={"train": 3, "val": 2})
    shutil.copy(data / "train" / "red" / "red_0.png", data / "val" / "red" / "copy.png")
    report = check.check_dataset(data)
    leak = next(i for i in report.issues if data / "val" / "red" / "copy.png" in i.paths)
    assert leak.severity == "error" and data / "train" / "red" / "red_0.png" in leak.paths
