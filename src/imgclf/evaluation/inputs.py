"""What evaluation reads: the run's splits (or another dataset), images through the shared decoder, outside images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from imgclf.data.corrections import Corrections, load_corrections
from imgclf.data.decode import DecodeError, decode_image
from imgclf.data.layout import SPLITS, DatasetError, discover, image_files
from imgclf.engine.predictor import Classifier, to_pixels
from imgclf.engine.run import Run

__all__ = [
    "Embedded",
    "builtin_outside",
    "embed",
    "embed_pixels",
    "labelled_split",
    "load_outside",
    "resolve_eval_data",
    "run_corrections",
    "run_dataset",
]

# Real photos that ship with scikit-image, none of which shows an insect: the default "images from elsewhere".
BUILTIN_OUTSIDE = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field", "immunohistochemistry",
    "moon", "page", "text", "clock", "brick", "gravel", "grass", "colorwheel", "retina",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Embedded:
    """Pooled features and raw probabilities of the images that decoded, with their sources and labels."""

    sources: tuple[str, ...]
    labels: np.ndarray
    features: np.ndarray
    probs: np.ndarray
    errors: tuple[tuple[str, str], ...] = ()


def run_dataset(run: Run) -> Path | None:
    """The dataset folder (or CSV) the run was trained on, or ``None`` when it is not on this machine."""
    dataset = run.meta.get("dataset")
    return Path(dataset) if dataset and Path(dataset).exists() else None


def run_corrections(run: Run) -> Corrections | None:
    """The review corrections of the dataset a run was trained on (``None`` when that dataset is gone)."""
    dataset = run_dataset(run)
    return None if dataset is None else load_corrections(dataset, runs=run.path.parent)


def labelled_split(run: Run, split: str, classes: Sequence[str]) -> list[tuple[Path, int]]:
    """``(path, class index)`` pairs of one split of the run, with the dataset's review corrections.

    Excluded images and labels the run does not know are dropped.
    """
    index = {name: i for i, name in enumerate(classes)}
    book = run_corrections(run)
    pairs = [
        (path, book.corrected_label(path, label) if book else label) for path, label in run.splits().get(split, [])
    ]
    return [(p, index[label]) for p, label in pairs if label in index]


def resolve_eval_data(run: Run, data: str | Path | None, classes: Sequence[str]) -> tuple[str, list]:
    """The images to evaluate on and a description: a split name of the run, or a dataset folder / CSV.

    Default: the run's ``test`` split, or ``val`` when it has none. A folder of class folders is used whole;
    a dataset with split folders gives its test split (else its val split).
    """
    if data is None or str(data) in SPLITS:
        name = str(data) if data is not None else "test"
        pairs = labelled_split(run, name, classes)
        if not pairs and data is None:
            name, pairs = "val", labelled_split(run, "val", classes)
        return name, pairs
    layout = discover(data, runs=run.path.parent)
    samples = list(layout.samples) if layout.kind == "class-folders" else layout.split("test") or layout.split("val")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({s.label for s in samples} - set(index))
    if unknown:
        raise DatasetError(f"--data '{data}' has classes {unknown} that the run does not know ({list(classes)}).")
    return str(layout.root), [(s.path, index[s.label]) for s in samples]


def embed_pixels(clf: Classifier, pixels: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Features and raw probabilities of a uint8 pixel batch, in chunks of ``batch_size``."""
    feats, probs = [], []
    for start in range(0, len(pixels), batch_size):
        f, p = clf.forward(pixels[start : start + batch_size])
        feats.append(f)
        probs.append(p)
    if not feats:
        return np.zeros((0, 0), np.float32), np.zeros((0, len(clf.classes)), np.float32)
    return np.concatenate(feats), np.concatenate(probs)


def embed(
    clf: Classifier,
    pairs: Sequence[tuple[Path, int]],
    batch_size: int = 32,
    on_batch: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> Embedded:
    """Decode ``(path, label)`` pairs through the shared decoder and run the model; failures are listed.

    ``on_batch`` is called with each batch's pixels, features and probabilities (e.g. a parity check).
    """
    sources, labels, feats, probs, errors, batch = [], [], [], [], [], []

    def flush() -> None:
        pixels = np.stack([px for _, _, px in batch])
        f, p = clf.forward(pixels)
        if on_batch is not None:
            on_batch(pixels, f, p)
        sources.extend(str(s) for s, _, _ in batch)
        labels.extend(lab for _, lab, _ in batch)
        feats.append(f)
        probs.append(p)
        batch.clear()

    for path, label in pairs:
        try:
            batch.append((path, label, decode_image(path, clf.input_size)))
        except DecodeError as exc:
            errors.append((str(path), str(exc)))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    width = feats[0].shape[1] if feats else 0
    return Embedded(
        tuple(sources),
        np.asarray(labels, dtype=int),
        np.concatenate(feats) if feats else np.zeros((0, width), np.float32),
        np.concatenate(probs) if probs else np.zeros((0, len(clf.classes)), np.float32),
        tuple(errors),
    )


def builtin_outside(size: int) -> list[tuple[str, np.ndarray]]:
    """scikit-image's sample photos as ``(name, (size, size, 3) uint8)``, grey ones turned to RGB."""
    from skimage import data

    images = []
    for name in BUILTIN_OUTSIDE:
        arr = np.asarray(getattr(data, name)())
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        arr = np.stack([arr] * 3, axis=-1) if arr.ndim == 2 else arr[..., :3]
        images.append((f"skimage.data.{name}", to_pixels(arr.astype(np.uint8), size)))
    return images


def load_outside(folder: str | Path | None, size: int) -> list[tuple[str, np.ndarray]]:
    """Images of ``folder`` (undecodable files skipped), or the built-in scikit-image set when ``None``."""
    if folder is None:
        return builtin_outside(size)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"--outside '{folder}' is not a folder; pass a folder of images unlike the classes.")
    images = []
    for path in image_files([root]):
        try:
            images.append((str(path), decode_image(path, size)))
        except DecodeError:
            continue
    if not images:
        raise DatasetError(f"--outside '{folder}' holds no readable images; add some photos of other things.")
    return images
