"""Feature extraction for the fast recipe: backbone outputs for the clean view and K augmented views, cached.

One forward pass per image and view yields every requested output (the pooled features for phase 1, and
optionally the activations at the fine-tuning cut for phase 2); only entries missing from the cache are
computed, and results are assembled into memory-mapped arrays so large datasets do not need RAM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from imgclf.data.pipeline import image_dataset
from imgclf.engine.cache import FeatureCache
from imgclf.engine.progress import ProgressCallback, ProgressEvent

__all__ = ["FeatureBatches", "extract_features", "missing_entries"]

ForwardFn = Callable[[np.ndarray], Sequence[np.ndarray]]


def _compute_missing(
    forward: ForwardFn,
    paths,
    digests,
    todo: list[tuple[int, int]],
    caches,
    *,
    size,
    batch_size,
    augmenter,
    progress,
    max_pixels,
) -> None:
    done = 0
    for view in sorted({v for v, _ in todo}):
        idx = [i for v, i in todo if v == view]
        ds = image_dataset(
            [paths[i] for i in idx],
            None,
            size=size,
            batch_size=batch_size,
            augmenter=augmenter if view else None,
            max_pixels=max_pixels,
            seed=view,
        )
        pos = 0
        for batch in ds:
            outputs = [np.asarray(o, dtype=np.float32) for o in forward(batch)]
            for row, i in enumerate(idx[pos : pos + len(outputs[0])]):
                for cache, out in zip(caches, outputs, strict=True):
                    cache.put(digests[i], view, out[row])
            pos += len(outputs[0])
            done += len(outputs[0])
            if progress:
                progress(ProgressEvent("features", done, len(todo), f"view {view}"))


def missing_entries(caches: Sequence[FeatureCache], digests: Sequence[str], views: int) -> list[tuple[int, int]]:
    """``(view, image index)`` pairs that some cache lacks (they must be computed)."""
    return [(v, i) for v in range(views) for i, d in enumerate(digests) if any(c.get(d, v) is None for c in caches)]


def extract_features(
    forward: ForwardFn,
    paths: Sequence[Path],
    digests: Sequence[str],
    *,
    views: int,
    caches: Sequence[FeatureCache],
    size: int,
    batch_size: int,
    augmenter: keras.Model | None,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    max_pixels: int,
) -> list[np.ndarray]:
    """One memory-mapped array ``(len(paths), views, *shape)`` per output of ``forward``; view 0 is clean.

    ``caches[k]`` stores output ``k``; an image is recomputed only when some cache lacks it.
    """
    todo = missing_entries(caches, digests, views)
    _compute_missing(
        forward,
        paths,
        digests,
        todo,
        caches,
        size=size,
        batch_size=batch_size,
        augmenter=augmenter,
        progress=progress,
        max_pixels=max_pixels,
    )
    if progress and not todo:
        progress(ProgressEvent("features", 0, 0, "all features cached"))
    arrays = []
    for cache in caches:
        shape = cache.get(digests[0], 0).shape
        path = out_dir / f"{cache.kind}-{len(paths)}x{views}-{digests[0][:8]}.npy"
        array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(len(paths), views, *shape))
        for i, d in enumerate(digests):
            for v in range(views):
                array[i, v] = cache.get(d, v)
        array.flush()
        arrays.append(array)
    return arrays


class FeatureBatches(keras.utils.PyDataset):
    """Shuffled batches over every view of every image of a ``(N, views, *shape)`` array, one-hot labels."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, num_classes: int, *, batch_size: int, seed: int):
        super().__init__()
        self.features = features
        self.views = features.shape[1]
        self.labels = np.asarray(labels)
        self.num_classes, self.batch_size = num_classes, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.labels) * self.views)

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        images, views = np.divmod(rows, self.views)
        x = np.asarray(self.features[images, views], dtype=np.float32)
        return x, keras.utils.to_categorical(self.labels[images], self.num_classes).astype("float32")

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.order))
