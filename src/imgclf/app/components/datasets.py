"""Choosing a dataset (a folder on this machine, or an uploaded zip) and showing its health report."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from imgclf.app.components.archive import ArchiveError, extract_zip
from imgclf.app.components.text import md_escape
from imgclf.data.check import DatasetReport
from imgclf.data.decode import DecodeError, open_image
from imgclf.data.report import display_path
from imgclf.data.samples import sample_dataset
from imgclf.errors import ImgclfError

__all__ = ["MAX_ZIP_MB", "choose_dataset", "render_dataset_report"]

MAX_ZIP_MB = 500
_THUMBS_PER_ISSUE = 6
_THUMB_SIDE = 160


def _default_folder() -> str:
    try:
        return str(sample_dataset())
    except ImgclfError:
        return ""


def _from_zip(key: str) -> Path | None:
    upload = st.file_uploader(
        "Zip of class folders", type=["zip"], max_upload_size=MAX_ZIP_MB, key=f"{key}-zip",
        help="e.g. data.zip holding train/ants/*.jpg, train/bees/*.jpg, or just ants/, bees/.",
    )  # fmt: skip
    if upload is None:
        return None
    data = upload.getvalue()
    extracted: dict[str, str] = st.session_state.setdefault("extracted_zips", {})
    digest = hashlib.sha256(data).hexdigest()
    if digest not in extracted:
        try:
            folder = extract_zip(data, Path(tempfile.mkdtemp(prefix="imgclf-upload-")) / "data")
        except ArchiveError as exc:
            st.error(md_escape(exc))
            return None
        extracted[digest] = str(folder)
    return Path(extracted[digest])


def choose_dataset(key: str) -> Path | None:
    """A dataset folder typed in (default: the shipped sample) or extracted from an uploaded zip."""
    mode = st.radio("Dataset", ["Folder", "Upload a zip"], horizontal=True, key=f"{key}-mode")
    if mode == "Upload a zip":
        return _from_zip(key)
    text = st.text_input("Dataset folder", _default_folder(), key=f"{key}-folder", help="A folder on this machine.")
    return Path(text.strip()).expanduser() if text.strip() else None


def _counts_frame(report: DatasetReport) -> pd.DataFrame:
    frame = pd.DataFrame({split: dict(per_class) for split, per_class in report.counts.items()})
    frame.index.name = "class"
    return frame.reindex(list(report.classes)).fillna(0).astype(int)


def _thumbnails(paths: tuple[Path, ...], root: Path) -> None:
    columns = st.columns(_THUMBS_PER_ISSUE)
    for column, path in zip(columns, paths[:_THUMBS_PER_ISSUE], strict=False):
        with column:
            try:
                image = open_image(path, draft_size=_THUMB_SIDE)
                image.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
                st.image(image)
            except DecodeError:
                st.caption(":material/broken_image: cannot be shown")
            st.caption(md_escape(display_path(path, root)))


def render_dataset_report(report: DatasetReport) -> None:
    """Verdict, counts per class and split, formats, then each issue with thumbnails of its files."""
    errors, warnings = len(report.errors), len(report.issues) - len(report.errors)
    if report.is_safe:
        st.success(f"Safe to train ({warnings} warnings).", icon=":material/check_circle:")
    else:
        st.error(f"Not safe to train: fix the {errors} errors below ({warnings} warnings).", icon=":material/error:")
    left, right = st.columns([2, 1])
    with left:
        counts = _counts_frame(report)
        st.dataframe(counts)
        st.bar_chart(counts, horizontal=True)
    with right:
        st.metric("Classes", len(report.classes))
        st.metric("Imbalance (largest / smallest)", "n/a" if report.imbalance is None else f"{report.imbalance:.2f}")
        st.dataframe(pd.Series(dict(report.formats), name="files").rename_axis("format"))
    for note in report.notes:
        st.caption(md_escape(note))
    for issue in report.issues:
        show = st.error if issue.severity == "error" else st.warning
        show(f"**{md_escape(issue.kind)}**: {md_escape(issue.message)}")
        if issue.paths:
            _thumbnails(issue.paths, report.root)
