"""Verification of an export: the exported model against the Keras model, on the run's own images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from imgclf.data.decode import DecodeError, decode_image

__all__ = ["MAX_ACCURACY_DROP", "MAX_FLOAT_DIFF", "Verification", "compare", "load_pixels", "run_batched", "sample"]

T = TypeVar("T")
MAX_FLOAT_DIFF = 1e-4  # a float32 export may differ from Keras by at most this much in any probability
MAX_ACCURACY_DROP = 0.01  # a quantized export may lose at most 1 point of accuracy on the verification images


@dataclasses.dataclass(frozen=True)
class Verification:
    """How an exported model compares with the Keras model on the same labelled images."""

    images: int
    max_abs_diff: float
    top1_agreement: float
    keras_accuracy: float
    export_accuracy: float

    def failure(self, *, quantized: bool, max_diff: float, max_accuracy_drop: float) -> str | None:
        """Why the export must be refused, or ``None``: float32 by probability, quantized by accuracy."""
        if not quantized and self.max_abs_diff > max_diff:
            diff = f"{self.max_abs_diff:.2e} (allowed {max_diff:g})"
            return f"its probabilities differ from the Keras model's by up to {diff}"
        drop = self.keras_accuracy - self.export_accuracy
        if quantized and drop > max_accuracy_drop:
            return (
                f"its accuracy is {self.export_accuracy:.1%} against the Keras model's {self.keras_accuracy:.1%} "
                f"(a drop of {drop * 100:.1f} points; allowed {max_accuracy_drop * 100:g})"
            )
        return None

    def summary(self) -> str:
        """One line: the largest probability difference, top-1 agreement and both accuracies."""
        return (
            f"largest probability difference {self.max_abs_diff:.2e}, top-1 agreement {self.top1_agreement:.1%}, "
            f"accuracy {self.export_accuracy:.1%} (Keras {self.keras_accuracy:.1%}) on {self.images} validation images"
        )

    def to_dict(self) -> dict[str, float | int]:
        """The figures as a JSON-ready dict."""
        return dataclasses.asdict(self)


def sample(items: Sequence[T], limit: int, seed: int = 0) -> list[T]:
    """At most ``limit`` of ``items``, drawn at random with ``seed`` and kept in their original order."""
    if len(items) <= limit:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


def load_pixels(pairs: Sequence[tuple[Path, int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 ``(n, size, size, 3)`` RGB pixels in [0, 255] and labels; files that do not decode are skipped."""
    pixels, labels = [], []
    for path, label in pairs:
        try:
            pixels.append(decode_image(path, size))
        except DecodeError:
            continue
        labels.append(label)
    return np.asarray(pixels, np.float32).reshape(-1, size, size, 3), np.asarray(labels, int)


def run_batched(predict: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """``predict`` over ``pixels`` in batches, as one float32 array of probabilities."""
    chunks = [np.asarray(predict(pixels[i : i + batch_size]), np.float32) for i in range(0, len(pixels), batch_size)]
    return np.concatenate(chunks)


def compare(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray) -> Verification:
    """Compare the exported model's probabilities with the Keras model's on images with ``labels``."""
    ref_top, exp_top = reference.argmax(1), exported.argmax(1)
    return Verification(
        images=len(labels),
        max_abs_diff=float(np.abs(reference - exported).max()),
        top1_agreement=float((ref_top == exp_top).mean()),
        keras_accuracy=float((ref_top == labels).mean()),
        export_accuracy=float((exp_top == labels).mean()),
    )
