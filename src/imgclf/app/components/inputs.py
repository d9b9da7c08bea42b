"""Where images come from: uploads, the camera and the shipped samples. Only bytes, never file paths."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import streamlit as st

from imgclf.app.components.text import md_escape
from imgclf.data.samples import sample_dataset
from imgclf.errors import ImgclfError

__all__ = ["MAX_UPLOAD_MB", "UPLOAD_TYPES", "InputImage", "collect_images", "sample_images"]

MAX_UPLOAD_MB = 20
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]


@dataclasses.dataclass(frozen=True)
class InputImage:
    """One image to classify: a display name (never used as a path) and its bytes."""

    name: str
    data: bytes

    @property
    def digest(self) -> str:
        """Content hash: the key of cached results."""
        return hashlib.sha256(self.data).hexdigest()


def sample_images() -> dict[str, Path]:
    """The shipped sample photos (the sample dataset's test split), by ``class/file`` name."""
    try:
        test = sample_dataset() / "test"
    except ImgclfError:
        return {}
    return {f"{p.parent.name}/{p.name}": p for p in sorted(test.glob("*/*.jpg"))}


def _uploads() -> list[InputImage]:
    files = st.file_uploader(
        "Images (JPEG, PNG, WebP, BMP, GIF)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        max_upload_size=MAX_UPLOAD_MB,
        key="uploads",
        help=f"Up to {MAX_UPLOAD_MB} MB each. Files are read in memory, never saved.",
    )
    images = []
    for f in files or []:
        if f.size > MAX_UPLOAD_MB * 1024 * 1024:
            st.error(f"{md_escape(f.name)} is over {MAX_UPLOAD_MB} MB; downscale it and upload it again.")
            continue
        images.append(InputImage(f.name, f.getvalue()))
    return images


def _camera() -> list[InputImage]:
    if not st.toggle("Use the camera", key="camera_on"):
        return []
    photo = st.camera_input("Take a photo", key="camera")
    return [InputImage("camera photo", photo.getvalue())] if photo is not None else []


def _samples() -> list[InputImage]:
    samples = sample_images()
    if not samples:
        st.caption("No sample images are installed.")
        return []
    picked = st.multiselect("Sample photos (ants and bees)", list(samples), key="samples")
    return [InputImage(f"sample {name}", samples[name].read_bytes()) for name in picked]


def collect_images() -> list[InputImage]:
    """Every image chosen in the upload, camera and sample tabs."""
    upload_tab, camera_tab, sample_tab = st.tabs(["Upload", "Camera", "Samples"])
    with upload_tab:
        uploaded = _uploads()
    with camera_tab:
        camera = _camera()
    with sample_tab:
        samples = _samples()
    return uploaded + camera + samples
