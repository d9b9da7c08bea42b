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

__all__ = ["EpochShuffle", "FeatureBatches", "extract_features", "missing_entries"]

ForwardFn = Callable[[np.ndarray], Sequence[np.ndarray]]


class _Outputs:
    """The memory-mapped result arrays ``(count, views, *shape)``, one per cache, made once shapes are known."""

    def __init__(self, out_dir: Path, caches: Sequence[FeatureCache], count: int, views: int, tag: str):
        self.out_dir, self.caches, self.count, self.views, self.tag = out_dir, caches, count, views, tag
        self.arrays: list[np.ndarray] = []

    def write(self, index: int, view: int, vectors: Sequence[np.ndarray]) -> None:
        if not self.arrays:
            self.arrays = [
                np.lib.format.open_memmap(
                    self.out_dir / f"{cache.kind}-{self.count}x{self.views}-{self.tag}.npy",
                    mode="w+",
                    dtype=np.float16,
                    shape=(self.count, self.views, *vector.shape),
                )
                for cache, vector in zip(self.caches, vectors, strict=True)
            ]
        for array, vector in zip(self.arrays, vectors, strict=True):
            array[index, view] = vector


def _compute_missing(
    forward: ForwardFn,
    paths,
    digests,
    todo: list[tuple[int, int]],
    outputs: _Outputs,
    *,
    size,
    batch_size,
    augmenter,
    progress,
    max_pixels,
) -> None:
    """Run ``forward`` over the ``(view, image)`` pairs in ``todo``: into ``outputs``, then offered to the caches."""
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
            results = [np.asarray(o, dtype=np.float32) for o in forward(batch)]
            for row, i in enumerate(idx[pos : pos + len(results[0])]):
                vectors = [out[row] for out in results]
                outputs.write(i, view, vectors)
                for cache, vector in zip(outputs.caches, vectors, strict=True):
                    cache.put(digests[i], view, vector)
            pos += len(results[0])
            done += len(results[0])
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

    ``caches[k]`` stores output ``k``; an image is recomputed only when some cache lacks it. Computed features
    go straight into the arrays, so training goes on when a cache cannot be written (see ``FeatureCache.problem``).
    """
    todo = missing_entries(caches, digests, views)
    outputs = _Outputs(out_dir, caches, len(paths), views, digests[0][:8])
    _compute_missing(
        forward,
        paths,
        digests,
        todo,
        outputs,
        size=size,
        batch_size=batch_size,
        augmenter=augmenter,
        progress=progress,
        max_pixels=max_pixels,
    )
    if progress and not todo:
        progress(ProgressEvent("features", 0, 0, "all features cached"))
    missing = set(todo)
    for i, d in enumerate(digests):
        for v in range(views):
            if (v, i) not in missing:
                outputs.write(i, v, [cache.get(d, v) for cache in caches])
    for array in outputs.arrays:
        array.flush()
    return outputs.arrays


class FeatureBatches(keras.utils.PyDataset):
    """Batches over every view of every image of a ``(N, views, *shape)`` array, with one-hot labels.

    With ``shuffle``, epoch ``e`` visits the rows in a permutation seeded by ``(seed, e)`` (set by
    :class:`EpochShuffle`), so a resumed fit sees the same batches as an uninterrupted one.
    """

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, num_classes: int, *, batch_size: int, seed: int, shuffle: bool
    ):
        super().__init__()
        self.features = features
        self.views = features.shape[1]
        self.labels = np.asarray(labels)
        self.num_classes, self.batch_size, self.seed, self.shuffle = num_classes, batch_size, seed, shuffle
        self.order = np.arange(len(self.labels) * self.views)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Use the row order of ``epoch`` (unchanged when not shuffling)."""
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.order))

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        images, views = np.divmod(rows, self.views)
        x = np.asarray(self.features[images, views], dtype=np.float32)
        return x, keras.utils.to_categorical(self.labels[images], self.num_classes).astype("float32")


class EpochShuffle(keras.callbacks.Callback):
    """Give a :class:`FeatureBatches` the number of each epoch as it begins (its shuffle depends on it)."""

    def __init__(self, batches: FeatureBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.batches.set_epoch(epoch)
