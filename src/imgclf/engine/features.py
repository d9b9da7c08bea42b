"""Phase-1 feature extraction: pooled backbone features for the clean view and K augmented views, cached."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from imgclf.data.pipeline import image_dataset
from imgclf.engine.cache import FeatureCache
from imgclf.engine.progress import ProgressCallback, ProgressEvent

__all__ = ["FeatureBatches", "extract_features"]


def extract_features(
    feature_fn: Callable[[np.ndarray], np.ndarray],
    paths: Sequence[Path],
    digests: Sequence[str],
    *,
    views: int,
    cache: FeatureCache,
    size: int,
    batch_size: int,
    augmenter: keras.Model | None,
    out: Path,
    progress: ProgressCallback | None = None,
    max_pixels: int,
) -> np.ndarray:
    """Features of shape ``(len(paths), views, dim)`` in a memory-mapped ``out`` file; view 0 is clean.

    Only entries missing from ``cache`` are computed; the rest are read back.
    """
    todo = [(v, i) for v in range(views) for i, d in enumerate(digests) if cache.get(d, v) is None]
    total, done = len(todo), 0
    for view in range(views):
        idx = [i for v, i in todo if v == view]
        for start in range(0, len(idx), batch_size * 8):
            chunk = idx[start : start + batch_size * 8]
            ds = image_dataset(
                [paths[i] for i in chunk],
                None,
                size=size,
                batch_size=batch_size,
                augmenter=augmenter if view else None,
                max_pixels=max_pixels,
                seed=view,
            )
            pos = 0
            for batch in ds:
                feats = np.asarray(feature_fn(batch), dtype=np.float32)
                for row, i in zip(feats, chunk[pos : pos + len(feats)], strict=True):
                    cache.put(digests[i], view, row)
                pos += len(feats)
                done += len(feats)
                if progress:
                    progress(ProgressEvent("features", done, total, f"view {view}"))
    if progress and not total:
        progress(ProgressEvent("features", 0, 0, "all features cached"))
    first = cache.get(digests[0], 0)
    array = np.lib.format.open_memmap(out, mode="w+", dtype=np.float16, shape=(len(paths), views, first.shape[-1]))
    for i, d in enumerate(digests):
        for v in range(views):
            array[i, v] = cache.get(d, v)
    array.flush()
    return array


class FeatureBatches(keras.utils.PyDataset):
    """Shuffled batches of cached features (every view of every image) with one-hot labels."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, num_classes: int, *, batch_size: int, seed: int):
        super().__init__()
        self.features = features.reshape(-1, features.shape[-1]) if features.ndim == 3 else features
        repeat = features.shape[1] if features.ndim == 3 else 1
        self.labels = np.repeat(np.asarray(labels), repeat)
        self.num_classes, self.batch_size = num_classes, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.labels))

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        x = np.asarray(self.features[rows], dtype=np.float32)
        return x, keras.utils.to_categorical(self.labels[rows], self.num_classes).astype("float32")

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.labels))
