"""Resolve backbone weights: Keras download, a local file, ``IMGCLF_WEIGHTS``, or none."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import keras

from imgclf.errors import ImgclfError
from imgclf.models.registry import BackboneSpec

__all__ = ["WeightsError", "load_backbone", "resolve_weights"]

ENV_VAR = "IMGCLF_WEIGHTS"


class WeightsError(ImgclfError, RuntimeError):
    """Backbone weights could not be found or loaded; the message says how to provide them."""


def _file_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"file:{digest.hexdigest()[:16]}"


def resolve_weights(spec: BackboneSpec, weights: str) -> tuple[str | None, str]:
    """Return ``(source, weights_id)``: source is a local file, ``"imagenet"`` (download) or ``None``.

    ``weights_id`` identifies the weights' content for the feature cache.
    """
    if weights == "none":
        return None, "none"
    if weights != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"--weights '{weights}' is neither 'imagenet', 'none' nor an existing file; "
                "pass the path of a Keras .weights.h5 file."
            )
        return str(path.resolve()), _file_id(path)
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            path = path / spec.weights_file
        if path.is_file():
            return str(path.resolve()), _file_id(path)
        if not Path(env).expanduser().is_dir():
            raise WeightsError(f"{ENV_VAR}='{env}' does not exist; point it at a weights file or a folder.")
    return "imagenet", "imagenet"


def _download_failed(spec: BackboneSpec, exc: Exception) -> WeightsError:
    return WeightsError(
        f"Could not download the ImageNet weights for {spec.name} ({type(exc).__name__}: {exc}). "
        f"Offline? Download '{spec.weights_file}' elsewhere and pass --weights PATH, or set "
        f"{ENV_VAR} to that file or to a folder holding one '<backbone>_imagenet.weights.h5' per backbone. "
        "Use --weights none to train from scratch."
    )


def load_backbone(spec: BackboneSpec, weights: str, input_size: int) -> tuple[keras.Model, str]:
    """Build ``spec``'s backbone (no top, no pooling) with the resolved weights; return it and its id."""
    source, weights_id = resolve_weights(spec, weights)
    kwargs = dict(include_top=False, input_shape=(input_size, input_size, 3), **dict(spec.extra_kwargs))
    if source == "imagenet":
        try:
            return spec.builder(weights="imagenet", **kwargs), weights_id
        except Exception as exc:
            raise _download_failed(spec, exc) from exc
    backbone = spec.builder(weights=None, **kwargs)
    if source is not None:
        try:
            backbone.load_weights(source)
        except Exception as exc:
            raise WeightsError(
                f"Weights file '{source}' does not fit backbone '{spec.name}' ({exc}). "
                f"Pass the file made for {spec.name} (expected name '{spec.weights_file}')."
            ) from exc
    return backbone, weights_id
