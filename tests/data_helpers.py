"""Small generated images and dataset folders for the data tests (decode, layout, check)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_dataset", "photo", "write_huge_png", "write_photo"]


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


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_huge_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header declaring ``width`` x ``height`` 1-bit pixels, with almost no pixel data (a few
    hundred bytes on disk, like a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale, no interlace
    data = (
        _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(width // 8 + 1)))
        + _png_chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path
