"""Small generated images and dataset folders for the data tests (decode, layout, check)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_dataset", "photo", "write_photo"]


def photo(seed: int, size: int = 64) -> Image.Image:
    """A smooth, photo-like RGB image that is different for every ``seed`` (distinct perceptual hashes)."""
    coarse = np.random.default_rng(seed).integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)


def write_photo(path: Path, seed: int, size: int = 64, fmt: str = "JPEG") -> Path:
    """Save :func:`photo` ``seed`` to ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    photo(seed, size).save(path, fmt)
    return path


def make_dataset(root: Path, counts: Mapping[str, Mapping[str, int]], first_seed: int = 0) -> Path:
    """Write ``counts[split][class]`` distinct JPEG photos under ``root/split/class/``.

    Use split "" for a plain folder of class folders. Every image gets its own seed, so there are no duplicates.
    """
    seed = first_seed
    for split, per_class in counts.items():
        for label, n in per_class.items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_photo(folder / f"{label}_{i:03d}.jpg", seed)
                seed += 1
    return root
