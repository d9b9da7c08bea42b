"""Prediction rows for files (path, prediction, content hash), and the CSV / Parquet sinks they stream into.

Both engines (local and Ray) make rows with :func:`predict_rows`, so they write the same columns and numbers.
A sink remembers the paths already written, so a job stopped half-way resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from imgclf.errors import ImgclfError
from imgclf.scale.sources import Fetched

if TYPE_CHECKING:  # the predictor imports Keras: a Ray job's driver and read tasks never need it
    from imgclf.engine.predictor import Classifier

__all__ = ["COLUMNS", "CsvSink", "ParquetSink", "PredictOptions", "columns", "open_sink", "predict_rows"]

COLUMNS = ("path", "label", "confidence", "status", "ood_score", "top_k", "error", "content_hash")
SINK_SUFFIXES = (".csv", ".parquet")


def columns(sets: bool) -> tuple[str, ...]:
    """The columns of file rows: ``COLUMNS``, with the prediction ``set`` after ``top_k`` when sets are asked for."""
    return (*COLUMNS[:6], "set", *COLUMNS[6:]) if sets else COLUMNS


@dataclasses.dataclass(frozen=True)
class PredictOptions:
    """How to predict: classes listed per image, the uncertainty threshold (None: the run's), mirror TTA, and
    the coverage of conformal prediction sets (None: no sets)."""

    top_k: int = 3
    threshold: float | None = None
    tta: bool = False
    batch_size: int = 32
    sets: float | None = None


def predict_rows(clf: Classifier, items: Sequence[Fetched], options: PredictOptions) -> list[dict[str, object]]:
    """One row (:func:`columns`) per fetched image, in order; unreadable or undecodable images give error rows."""
    from imgclf.engine.predictor import Prediction

    readable = [i for i, item in enumerate(items) if item.error is None]
    predictions = clf.predict(
        [items[i].data for i in readable],
        names=[items[i].path for i in readable],
        top_k=min(options.top_k, len(clf.classes)),
        threshold=options.threshold,
        tta=options.tta,
        batch_size=options.batch_size,
        sets=options.sets,
    )
    by_index = dict(zip(readable, predictions, strict=True))
    rows, empty_set = [], None if options.sets is None else ()
    for i, item in enumerate(items):
        prediction = by_index.get(i) or Prediction.failed(item.path, item.error or "", prediction_set=empty_set)
        rows.append({**prediction.to_row(), "content_hash": item.digest})
    return rows


def _clean(value: object) -> object:
    """A missing value (None or NaN) as None, so both engines write the same empty cells."""
    return None if isinstance(value, float) and math.isnan(value) else value


class CsvSink:
    """Rows appended to one CSV file and flushed as they come; ``resume`` keeps (and skips) the rows there."""

    def __init__(self, path: Path, *, resume: bool, fields: tuple[str, ...] = COLUMNS):
        self.path, self.fields = path, fields
        self.done: set[str] = set()
        if resume and path.is_file():
            self._recover()
        fresh = not (resume and path.is_file() and path.stat().st_size)
        self._fh = path.open("w" if fresh else "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=fields, extrasaction="ignore")
        if fresh:
            self._writer.writeheader()
            self._fh.flush()

    def _recover(self) -> None:
        """Drop a last line cut short by a stop, then read the paths already written."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            self.path.write_bytes(data)
        with self.path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames and tuple(reader.fieldnames) != self.fields:
                raise ImgclfError(
                    f"--resume: '{self.path}' has columns {reader.fieldnames}, not those this command writes "
                    f"({', '.join(self.fields)}); pass the same --sets as before, or a new --output."
                )
            self.done = {row["path"] for row in reader}

    def write(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Append ``rows`` and flush them to disk."""
        self._writer.writerows({k: _clean(v) for k, v in row.items()} for row in rows)
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def _schema(fields: tuple[str, ...]):
    import pyarrow as pa

    floats = {"confidence", "ood_score"}
    return pa.schema([(c, pa.float64() if c in floats else pa.string()) for c in fields])


class ParquetSink:
    """Rows written as ``part-NNNNN.parquet`` shards of ``shard_rows`` rows into a folder, each atomically."""

    def __init__(self, folder: Path, *, resume: bool, shard_rows: int = 50_000, fields: tuple[str, ...] = COLUMNS):
        self.folder, self.shard_rows, self.fields = folder, shard_rows, fields
        self.done: set[str] = set()
        self._buffer: list[dict[str, object]] = []
        folder.mkdir(exist_ok=True)
        strays = [p for p in folder.iterdir() if not p.name.startswith(("part-", ".part-"))]
        if strays:
            raise ImgclfError(f"--output '{folder}' holds other files ({strays[0].name}...); pass a new folder.")
        for stale in folder.glob(".part-*"):  # a shard a stop cut short
            stale.unlink()
        shards = sorted(folder.glob("part-*.parquet"))
        if resume:
            self.done = {p for shard in shards for p in self._paths(shard)}
        else:
            for shard in shards:
                shard.unlink()
            shards = []
        self._next = 1 + max((int(s.stem.split("-")[1]) for s in shards), default=-1)

    @staticmethod
    def _paths(shard: Path) -> list[str]:
        import pyarrow.parquet as pq

        return pq.read_table(shard, columns=["path"]).column("path").to_pylist()

    def write(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Buffer ``rows``; write a shard whenever ``shard_rows`` are buffered."""
        self._buffer += [{k: _clean(row.get(k)) for k in self.fields} for row in rows]
        while len(self._buffer) >= self.shard_rows:
            self._flush(self._buffer[: self.shard_rows])
            self._buffer = self._buffer[self.shard_rows :]

    def _flush(self, rows: list[dict[str, object]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"part-{self._next:05d}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(pa.Table.from_pylist(rows, schema=_schema(self.fields)), tmp)
        os.replace(tmp, self.folder / name)
        self._next += 1

    def close(self) -> None:
        """Write the rows still buffered."""
        if self._buffer:
            self._flush(self._buffer)
            self._buffer = []


def open_sink(path: str | Path, *, resume: bool, sets: bool = False) -> CsvSink | ParquetSink:
    """A sink for ``path``: a ``.csv`` file or a ``.parquet`` folder of shards (in an existing folder), with the
    ``set`` column when prediction sets are asked for."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in SINK_SUFFIXES:
        raise ImgclfError(f"--output '{path}' must end in .csv (one file) or .parquet (a folder of shards).")
    if not path.parent.is_dir():
        raise ImgclfError(f"--output '{path}': folder '{path.parent}' does not exist; create it first.")
    fields = columns(sets)
    if path.suffix.lower() == ".csv":
        return CsvSink(path, resume=resume, fields=fields)
    return ParquetSink(path, resume=resume, fields=fields)
