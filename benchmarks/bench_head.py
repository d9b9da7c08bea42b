"""Head training streamed from memory-mapped features: the process's own memory does not grow with the features.

Phase 1 of the fast recipe trains the head on a ``(N, views, dim)`` float16 array that the trainer assembles
from the feature cache as a memory-mapped ``.npy`` file, through :class:`~imgclf.engine.features.FeatureBatches`
(one shuffled batch read at a time). This script writes such a file of ``--gib`` GiB (synthetic features of two
separable classes, ResNet50's 2048 dimensions), trains the same head as phase 1 for one epoch on it, and
reports the anonymous resident memory (``RssAnon``: what the process holds itself; file pages of the memory
map are page cache that the kernel evicts under pressure). Run it at two sizes: equal ``RssAnon`` shows the
features are streamed, so a file larger than RAM trains too.

``python -m benchmarks.bench_head --gib 2 [--dim 2048] [--batch-size 256]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import emit, peak_rss_mib

__all__ = ["main"]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _write_features(path: Path, rows: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``(rows, 1, dim)`` float16 memory-mapped array, written in chunks, and its labels."""
    rng = np.random.default_rng(0)
    labels = np.arange(rows) % 2
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, 1, dim))
    chunk = 65_536
    for start in range(0, rows, chunk):
        part = labels[start : start + chunk]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32)
        array[start : start + chunk, 0] = noise + part[:, None] * 0.5
    array.flush()
    del array
    return np.load(path, mmap_mode="r"), labels


def main(argv: list[str] | None = None) -> int:
    """Write the features, train one epoch, print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, required=True, help="size of the features file")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)

    import keras

    from imgclf.engine.features import FeatureBatches
    from imgclf.models.build import build_head

    rows = int(args.gib * 2**30 / (2 * args.dim))
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-head-") as tmp:
        features, labels = _write_features(Path(tmp) / "pool.npy", rows, args.dim)
        batches = FeatureBatches(features, labels, 2, batch_size=args.batch_size, seed=0)
        head = build_head(feature_dim=args.dim, num_classes=2, units=(), dropout=0.2)
        head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
        anon_before = _status_kib("RssAnon")
        started = time.perf_counter()
        history = head.fit(batches, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        emit(
            {
                "features_gib": rows * args.dim * 2 / 2**30,
                "rows": rows,
                "dim": args.dim,
                "epoch_s": seconds,
                "rows_per_s": rows / seconds,
                "accuracy": float(history.history["accuracy"][-1]),
                "rss_anon_before_mib": anon_before / 1024,
                "rss_anon_after_mib": _status_kib("RssAnon") / 1024,
                "rss_file_after_mib": _status_kib("RssFile") / 1024,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
