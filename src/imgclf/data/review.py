"""Review decisions checked against the dataset: keep, relabel or exclude one of its images; add a new photo.

Every decision goes to the corrections file (:mod:`imgclf.data.corrections`); images are only copied in
(``add``), never moved or deleted here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from imgclf.data.corrections import (
    Corrections,
    CorrectionsError,
    Decision,
    append_decision,
    load_corrections,
    new_decision,
)
from imgclf.data.decode import DecodeError, open_image
from imgclf.data.layout import DatasetLayout, Sample, discover

__all__ = ["REVIEW_ACTIONS", "add_image", "record_decision"]

REVIEW_ACTIONS = ("keep", "relabel", "exclude")
_SUFFIXES = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "BMP": ".bmp",
    "WEBP": ".webp",
    "TIFF": ".tif",
}


def _sample(layout: DatasetLayout, book: Corrections, path: str | Path) -> Sample:
    """The dataset's sample (excluded ones included) at ``path``: absolute, relative here, or to the dataset."""
    given = Path(path).expanduser()
    keys = {book.key(given)} | (set() if given.is_absolute() else {book.key(book.base / given)})
    for sample in (*layout.samples, *layout.excluded):
        if book.key(sample.path) in keys:
            return sample
    example = book.key(layout.samples[0].path) if layout.samples else "train/CLASS/photo.jpg"
    raise CorrectionsError(
        f"'{path}' is not an image of the dataset {layout.root}; give its path inside the dataset "
        f"(e.g. {example}) or its absolute path, as `imgclf check` or `imgclf suspects` list them."
    )


def _known(layout: DatasetLayout, label: str | None) -> str:
    if label not in layout.classes:
        raise CorrectionsError(
            f"Unknown class '{label}' for the dataset {layout.root}; use one of {', '.join(layout.classes)}."
        )
    return label


def record_decision(
    data: str | Path, path: str | Path, action: str, new_label: str | None = None, *, runs: str | Path | None = None
) -> Decision:
    """Record ``action`` (keep, relabel to ``new_label``, exclude) for the image ``path`` of dataset ``data``.

    A relabel to the label the image already has is recorded as keep. ``runs`` is where a read-only
    dataset's corrections are kept.
    """
    if action not in REVIEW_ACTIONS:
        raise CorrectionsError(f"Unknown review action '{action}'; use one of {', '.join(REVIEW_ACTIONS)}.")
    layout = discover(data, runs=runs)
    book = load_corrections(data, runs)
    sample = _sample(layout, book, path)
    label = _known(layout, new_label) if action == "relabel" else sample.label
    if action == "relabel" and label == sample.label and sample not in layout.excluded:
        action = "keep"
    decision = new_decision(book.key(sample.path), sample.label, "" if action == "exclude" else label, action)
    append_decision(book, decision)
    return decision


def _train_folder(layout: DatasetLayout, book: Corrections, label: str) -> Path:
    """Where a new training image of ``label`` goes: ``train/<label>/``, ``<label>/`` or, for a CSV, ``added/``."""
    if layout.kind == "csv":
        return book.base / "added" / label
    if layout.kind == "class-folders":
        return layout.root / label
    train = next(d for d in sorted(layout.root.iterdir()) if d.is_dir() and d.name.lower() == "train")
    return train / label


def _file_name(name: str, content: bytes, folder: Path) -> Path:
    """A safe, unused file name in ``folder`` from ``name``, with the extension of the image's real format."""
    with Image.open(io.BytesIO(content)) as img:
        suffix = _SUFFIXES.get(str(img.format), ".png")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).stem).strip(".-")[:64] or "photo"
    candidate, n = folder / f"{stem}{suffix}", 2
    while candidate.exists():
        candidate, n = folder / f"{stem}-{n}{suffix}", n + 1
    return candidate


def add_image(data: str | Path, content: bytes, name: str, label: str, *, runs: str | Path | None = None) -> Decision:
    """Copy a new photo (``content``, shown as ``name``) into the dataset's training images of class ``label``.

    The copy gets a unique safe name; the corrections file records it (it always stays in the train split).
    A read-only dataset or bytes that are not an image are refused.
    """
    layout = discover(data, runs=runs)
    _known(layout, label)
    book = load_corrections(data, runs)
    if not book.in_dataset:
        raise CorrectionsError(
            f"The dataset {layout.root} is read-only, so '{name}' cannot be added; copy the dataset somewhere "
            "writable and review that copy."
        )
    try:
        open_image(content)
    except DecodeError as exc:
        raise CorrectionsError(f"'{name}' cannot be added ({exc}); pick an image file.") from exc
    folder = _train_folder(layout, book, label)
    folder.mkdir(parents=True, exist_ok=True)
    target = _file_name(name, content, folder)
    target.write_bytes(content)
    decision = new_decision(book.key(target), "", label, "add")
    append_decision(book, decision)
    return decision
