"""SOURCE arguments (folders, globs, lists, URIs), reading with error capture, and the CSV / Parquet sinks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from imgclf.engine.cache import content_hash
from imgclf.errors import ImgclfError
from imgclf.scale.rows import COLUMNS, CsvSink, ParquetSink, open_sink
from imgclf.scale.sources import SourceError, fetch, resolve_sources


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for name in ("a/one.png", "a/b/two.jpg", "a/.hidden.png", "a/notes.txt", "c/three.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    return tmp_path


def test_folders_globs_lists_and_uris_resolve_to_each_image_once(tree: Path):
    listing = tree / "list.txt"
    listing.write_text(f"# photos\nc/three.png\n\n{tree / 'a' / 'one.png'}\nmissing.png\n")
    found = resolve_sources([tree / "a", str(tree / "**" / "*.png"), listing])
    assert found == [
        str(tree / "a" / "b" / "two.jpg"),
        str(tree / "a" / "one.png"),  # hidden and non-image files of a folder are skipped
        str(tree / "c" / "three.png"),
        str(tree / "missing.png"),  # list entries are kept as given: a missing one becomes an error row
    ]
    assert resolve_sources([f"file://{tree}/c"]) == [f"file://{tree}/c/three.png"]


def test_bad_sources_are_refused_with_the_value(tree: Path):
    with pytest.raises(SourceError, match="nothing-here"):
        resolve_sources([str(tree / "nothing-here" / "*.jpg")])
    with pytest.raises(SourceError, match="does not exist"):
        resolve_sources([f"file://{tree}/no-such-folder"])


def test_fetch_records_failures_instead_of_raising(tree: Path):
    items = fetch([str(tree / "c" / "three.png"), str(tree / "gone.png"), f"file://{tree}/c/three.png"])
    assert items[0].data == b"c/three.png" and items[0].digest == content_hash(tree / "c" / "three.png")
    assert items[1].data is None and "Cannot read" in items[1].error and "gone.png" in items[1].error
    assert items[2].digest == items[0].digest and items[2].error is None


def _row(path: str, label: str = "red") -> dict[str, object]:
    return {"path": path, "label": label, "confidence": 0.9, "status": "ok", "ood_score": None, "top_k": "red:0.9",
            "error": "", "content_hash": "ab" * 16}  # fmt: skip


def test_csv_sink_appends_and_resumes_after_a_cut_line(tmp_path: Path):
    out = tmp_path / "p.csv"
    sink = CsvSink(out, resume=False)
    sink.write([_row("a.png"), _row("b.png")])
    sink.close()
    out.write_text(out.read_text() + "c.png,red,0.")  # a stop cut this row short
    sink = CsvSink(out, resume=True)
    assert sink.done == {"a.png", "b.png"}
    sink.write([_row("c.png", "blue")])
    sink.close()
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["path"] for r in rows] == ["a.png", "b.png", "c.png"] and rows[2]["label"] == "blue"
    assert list(rows[0]) == list(COLUMNS) and rows[0]["ood_score"] == ""


def test_parquet_sink_writes_shards_and_refuses_foreign_folders(tmp_path: Path):
    import pyarrow.parquet as pq

    out = tmp_path / "p.parquet"
    sink = ParquetSink(out, resume=False, shard_rows=2)
    sink.write([_row(f"{i}.png") for i in range(5)])
    sink.close()
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert ParquetSink(out, resume=True).done == {f"{i}.png" for i in range(5)}
    assert pq.read_table(out).num_rows == 5
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.me").write_text("x")
    with pytest.raises(ImgclfError, match=r"keep\.me"):
        ParquetSink(tmp_path / "other", resume=False)
    with pytest.raises(ImgclfError, match=r"preds\.txt"):
        open_sink(tmp_path / "preds.txt", resume=False)
