"""Rows of results (predictions, suspects) as a terminal table, a CSV file or a JSON file."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from imgclf.errors import ImgclfError

__all__ = ["OutputError", "check_output", "format_rows", "write_rows"]

FORMATS = (".csv", ".json")


class OutputError(ImgclfError, ValueError):
    """An output file cannot be written as asked."""


def check_output(path: str | Path) -> Path:
    """``path`` if rows can be written there (a .csv or .json file in an existing folder), else raise."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise OutputError(f"--output '{path}' must end in .csv or .json, e.g. preds.csv.")
    if not path.parent.is_dir():
        raise OutputError(f"--output '{path}': folder '{path.parent}' does not exist; create it first.")
    return path


def write_rows(rows: Sequence[Mapping[str, object]], path: str | Path) -> Path:
    """Write ``rows`` to a ``.csv`` or ``.json`` file (atomically, so a failure leaves no half file)."""
    path = check_output(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(list(rows), indent=2, default=str)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)
    return path


def _cell(value: object, width: int) -> str:
    text = "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def format_rows(rows: Sequence[Mapping[str, object]], columns: Sequence[str], max_width: int = 48) -> str:
    """A fixed-width table of ``columns`` (long cells keep their end, e.g. a file name)."""
    cells = [[_cell(row.get(c), max_width) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
