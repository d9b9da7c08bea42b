"""Choosing a dataset (the shipped sample, a folder under the app's data roots, or an uploaded zip) and
showing its health report.

The app reads only folders under the data roots given at start (``imgclf app --data DIR...``, default: the
folder it was started in), plus the sample dataset shipped with imgclf. An uploaded zip is extracted into
a temporary folder that belongs to the user's session (see :class:`~imgclf.app.components.archive.UploadedZip`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from imgclf.app.components.archive import ArchiveError, UploadedZip
from imgclf.app.components.charts import bar_chart
from imgclf.app.components.state import SESSION, initial
from imgclf.app.components.text import md_escape, plural
from imgclf.data.check import DatasetReport
from imgclf.data.decode import DecodeError, open_image
from imgclf.data.report import display_path
from imgclf.data.samples import sample_dataset
from imgclf.errors import ImgclfError

__all__ = [
    "DATASET_MODES",
    "MAX_ZIP_MB",
    "OutsideDataRoots",
    "choose_dataset",
    "data_roots",
    "inside_data_roots",
    "render_dataset_report",
    "without_upload_paths",
]

MAX_ZIP_MB = 500
SAMPLE, FOLDER, ZIP = "Sample photos (ants and bees)", "Folder", "Upload a zip"
DATASET_MODES = (SAMPLE, FOLDER, ZIP)
ZIP_KEY = "uploaded_zip"  # the session's UploadedZip, shared by the Dataset and Train pages
ROOTS_KEY = "data_roots"
_THUMBS_PER_ISSUE = 6
_THUMB_SIDE = 160


class OutsideDataRoots(ImgclfError, ValueError):
    """A typed folder lies outside the folders this app may read."""


def data_roots() -> list[Path]:
    """The folders this app may read datasets from (``imgclf app --data``; default: where it started)."""
    return [Path(root).expanduser().resolve() for root in st.session_state.get(ROOTS_KEY) or [Path.cwd()]]


def _sample() -> Path | None:
    try:
        return sample_dataset()
    except ImgclfError:
        return None


def inside_data_roots(text: str, roots: list[Path]) -> Path:
    """The folder ``text`` (relative to the first root) resolved, links followed; refused outside ``roots``."""
    path = Path(text.strip()).expanduser()
    resolved = (path if path.is_absolute() else roots[0] / path).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots)
        raise OutsideDataRoots(
            f"'{text.strip()}' is outside the folders this app may read ({listed}). Pick a folder inside one of "
            f"them or upload a zip; to allow another folder, restart the app with `imgclf app --data FOLDER`."
        )
    return resolved


def _from_folder(key: str) -> Path | None:
    roots = data_roots()
    text = st.text_input(
        "Dataset folder", key=initial(f"{key}-folder", ""), persist_state=SESSION,
        placeholder="e.g. flowers, or a full path",
        help="A folder of class folders on the server, inside: " + ", ".join(str(r) for r in roots),
    )  # fmt: skip
    if not text.strip():
        return None
    try:
        return inside_data_roots(text, roots)
    except OutsideDataRoots as exc:
        st.error(md_escape(exc), icon=":material/block:")
        return None


def _replace_zip(name: str, upload_id: str, data: bytes) -> UploadedZip | None:
    """Extract a new upload in place of the session's previous one (whose files are deleted)."""
    previous: UploadedZip | None = st.session_state.pop(ZIP_KEY, None)
    if previous is not None:
        previous.remove()
    try:
        st.session_state[ZIP_KEY] = UploadedZip(name, upload_id, data)
    except ArchiveError as exc:
        st.error(md_escape(exc))
        return None
    return st.session_state[ZIP_KEY]


def without_upload_paths(text: object) -> str:
    """``text`` with the folder of the session's uploaded zip replaced by the zip's name (no server paths)."""
    current: UploadedZip | None = st.session_state.get(ZIP_KEY)
    text = str(text)
    if current is None:
        return text
    return text.replace(str(current.root), current.name).replace(str(current.folder), current.name)


def _from_zip(key: str) -> Path | None:
    upload = st.file_uploader(
        "Zip of class folders", type=["zip"], max_upload_size=MAX_ZIP_MB, key=f"{key}-zip",
        help="e.g. data.zip holding train/ants/*.jpg, train/bees/*.jpg, or just ants/, bees/. "
        "Its files are deleted when you leave the app.",
    )  # fmt: skip
    current: UploadedZip | None = st.session_state.get(ZIP_KEY)
    if upload is not None and (current is None or current.upload_id != upload.file_id):
        current = _replace_zip(upload.name, upload.file_id, upload.getvalue())
    if current is None:
        return None
    if upload is None:
        st.caption(f"Using {md_escape(current.name)}, uploaded earlier. Upload another zip to replace it.")
    return current.root


def choose_dataset(key: str) -> Path | None:
    """The shipped sample, a folder typed in (inside the data roots) or an uploaded zip; ``None`` until valid."""
    sample = _sample()
    modes = DATASET_MODES if sample is not None else DATASET_MODES[1:]
    mode = st.radio("Dataset", modes, horizontal=True, key=initial(f"{key}-mode", modes[0]), persist_state=SESSION)
    if mode == ZIP:
        return _from_zip(key)
    if mode == FOLDER:
        return _from_folder(key)
    return sample


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
        st.success(f"Safe to train ({plural(warnings, 'warning')}).", icon=":material/check_circle:")
    else:
        st.error(
            f"Not safe to train: fix the {plural(errors, 'error')} below ({plural(warnings, 'warning')}).",
            icon=":material/error:",
        )
    left, right = st.columns([2, 1])
    with left:
        counts = _counts_frame(report)
        st.dataframe(counts)
        bar_chart(counts)
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
