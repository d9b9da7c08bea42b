"""Where images come from: uploads, the camera and the shipped samples. Only bytes, never file paths.

Every image added is kept in this session's image list (``st.session_state``) until the user removes it,
so uploads and their results survive visits to other pages. The same bytes are kept once, whichever
way they arrive. After each addition the uploader is emptied (a new widget key), ready for more.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import streamlit as st

from imgclf.app.components.text import md_escape
from imgclf.data.samples import sample_dataset
from imgclf.errors import ImgclfError

__all__ = [
    "MAX_IMAGES",
    "MAX_UPLOAD_MB",
    "UPLOAD_TYPES",
    "InputImage",
    "choose_images",
    "forget_image",
    "kept_images",
    "sample_images",
]

MAX_UPLOAD_MB = 20
MAX_IMAGES = 60
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]
_IMAGES = "images"  # digest -> InputImage, in the order added
_NOTES = "image_notes"  # messages about the last addition (too large, duplicates, over the limit)
_ROUND = "uploader_round"  # bumped after each addition, so the uploader and camera start empty


@dataclasses.dataclass(frozen=True)
class InputImage:
    """One image to classify: a display name (never used as a path) and its bytes."""

    name: str
    data: bytes

    @property
    def digest(self) -> str:
        """Content hash: the key of the image list and of cached results."""
        return hashlib.sha256(self.data).hexdigest()


def sample_images() -> dict[str, Path]:
    """The shipped sample photos (the sample dataset's test split), by ``class/file`` name."""
    try:
        test = sample_dataset() / "test"
    except ImgclfError:
        return {}
    return {f"{p.parent.name}/{p.name}": p for p in sorted(test.glob("*/*.jpg"))}


def kept_images() -> list[InputImage]:
    """This session's images, in the order they were added."""
    return list(st.session_state.get(_IMAGES, {}).values())


def forget_image(digest: str) -> None:
    """Remove one image (all of them with ``digest == "*"``) from this session's list."""
    images: dict[str, InputImage] = st.session_state.setdefault(_IMAGES, {})
    if digest == "*":
        images.clear()
    else:
        images.pop(digest, None)


def _add(new: list[InputImage], notes: list[str]) -> None:
    images: dict[str, InputImage] = st.session_state.setdefault(_IMAGES, {})
    for image in new:
        if image.digest in images:
            notes.append(f"{image.name} is already in the list (same content as {images[image.digest].name}).")
        elif len(images) >= MAX_IMAGES:
            notes.append(f"{image.name} was not added: the list holds {MAX_IMAGES} images; remove some first.")
        else:
            images[image.digest] = image
    st.session_state[_NOTES] = notes
    st.session_state[_ROUND] = st.session_state.get(_ROUND, 0) + 1


def _uploaded(key: str) -> None:
    notes, new = [], []
    for f in st.session_state.get(key) or []:
        if f.size > MAX_UPLOAD_MB * 1024 * 1024:
            notes.append(f"{f.name} is over {MAX_UPLOAD_MB} MB; downscale it and upload it again.")
        else:
            new.append(InputImage(f.name, f.getvalue()))
    _add(new, notes)


def _photographed(key: str) -> None:
    photo = st.session_state.get(key)
    if photo is not None:
        _add([InputImage(f"camera photo {len(kept_images()) + 1}", photo.getvalue())], [])


def _sampled() -> None:
    samples = sample_images()
    picked = st.session_state.get("samples") or []
    _add([InputImage(f"sample {name}", samples[name].read_bytes()) for name in picked if name in samples], [])
    st.session_state["samples"] = []


def choose_images() -> None:
    """The upload, camera and sample tabs; what they give is added to this session's image list."""
    round_ = st.session_state.get(_ROUND, 0)
    upload_tab, camera_tab, sample_tab = st.tabs(["Upload", "Camera", "Samples"])
    with upload_tab:
        key = f"uploads-{round_}"
        st.file_uploader(
            "Images (JPEG, PNG, WebP, BMP, GIF)", type=UPLOAD_TYPES, accept_multiple_files=True,
            max_upload_size=MAX_UPLOAD_MB, key=key, on_change=_uploaded, args=(key,),
            help=f"Up to {MAX_UPLOAD_MB} MB each. Files are read in memory, never saved.",
        )  # fmt: skip
    with camera_tab:
        if st.toggle("Use the camera", key="camera_on"):
            key = f"camera-{round_}"
            st.camera_input("Take a photo", key=key, on_change=_photographed, args=(key,))
    with sample_tab:
        samples = sample_images()
        if samples:
            st.multiselect("Sample photos (ants and bees)", list(samples), key="samples", on_change=_sampled)
        else:
            st.caption("No sample images are installed.")
    for note in st.session_state.pop(_NOTES, []):
        st.warning(md_escape(note), icon=":material/info:")
