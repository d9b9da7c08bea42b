"""The Model page's Export section: build a verified export of the run and offer it as a zip download."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from imgclf.app.components.text import md_escape
from imgclf.errors import ImgclfError

__all__ = ["render_export", "zip_folder"]

_FORMATS = {
    "savedmodel": "SavedModel (TensorFlow, TF Serving)",
    "onnx": "ONNX (ONNX Runtime)",
    "tflite": "TFLite (LiteRT: mobile, edge)",
}
_QUANTIZE = {"savedmodel": ("none",), "onnx": ("none", "float16", "int8"), "tflite": ("none", "float16", "int8")}
_READY_KEY = "export_ready"


@dataclasses.dataclass(frozen=True)
class _Ready:
    """A built export held for download: which run and options it is for, the zip and its verification."""

    key: tuple[str, str, str]
    file_name: str
    data: bytes
    summary: str


def zip_folder(folder: Path) -> bytes:
    """The files under ``folder`` as a zip, under a top folder of the same name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()


def _build(run: Path, fmt: str, quantize: str) -> _Ready:
    from imgclf.deploy import export_run

    name = "-".join([run.name, fmt] + ([quantize] if quantize != "none" else []))
    with tempfile.TemporaryDirectory(prefix="imgclf-export-") as tmp:
        result = export_run(run, fmt, out=Path(tmp) / name, quantize=None if quantize == "none" else quantize)
        data = zip_folder(result.out)
    return _Ready((str(run), fmt, quantize), f"{name}.zip", data, result.verification.summary())


def render_export(run: Path) -> None:
    """Format and quantization pickers, a Build button, then the verified export's zip as a download."""
    st.subheader("Export")
    st.caption(
        "A standalone model for another runtime: it takes RGB pixels, returns probabilities, and comes with its "
        "labels, calibration, a model card and a `predict.py`. It is checked against this model on validation "
        "images before it is offered."
    )
    left, right = st.columns(2)
    fmt = left.selectbox("Format", list(_FORMATS), format_func=_FORMATS.get, key="export_format")
    quantize = right.selectbox("Quantization", _QUANTIZE[fmt], key="export_quantize")
    key = (str(run), fmt, quantize)
    if st.button("Build export", key="export_build", help="Convert, verify, and zip the export folder."):
        with st.spinner("Exporting and verifying (a minute or so for a ResNet50)..."):
            try:
                st.session_state[_READY_KEY] = _build(run, fmt, quantize)
            except ImgclfError as exc:
                st.error(md_escape(exc), icon=":material/error:")
    ready = st.session_state.get(_READY_KEY)
    if ready is not None and ready.key == key:
        st.success(f"Verified: {ready.summary}.", icon=":material/verified:")
        st.download_button(
            f"Download {ready.file_name} ({len(ready.data) / 1e6:.1f} MB)",
            ready.data,
            file_name=ready.file_name,
            mime="application/zip",
            key="export_download",
        )
