"""Inference speed of a trained run: bare ``model.predict`` throughput (batch 32, pixels decoded beforehand)
against the ``imgclf predict`` command on a folder of the same images (decoding included), and single-image
latency through ``Classifier.predict``, with Grad-CAM, and of the bare forward pass.

``python -m benchmarks.bench_inference RUN [--images N] [--latency-samples K] [--repeats R]``
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import best_time, decode_all, emit, peak_rss_mib, percentiles, split_of_run

__all__ = ["main"]


def _latencies(fn: Callable[[int], object], items: list[int], warmup: int = 2) -> dict[str, float]:
    for item in items[:warmup]:
        fn(item)
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return {k: v * 1000 for k, v in percentiles(times).items()}


def _cli_seconds(run: Path, paths: list[Path], workdir: Path, repeats: int) -> float:
    """Wall time of ``imgclf predict RUN FOLDER --output CSV`` on a folder linking to ``paths`` (best of repeats)."""
    folder = workdir / f"images-{len(paths)}"
    folder.mkdir()
    for i, path in enumerate(paths):
        (folder / f"{i:05d}_{path.name}").symlink_to(path.resolve())
    out = workdir / f"predictions-{len(paths)}.csv"
    command = [sys.executable, "-m", "imgclf.cli.main", "predict", str(run), str(folder), "--output", str(out)]

    def once() -> None:
        subprocess.run(command, check=True, capture_output=True, text=True)

    seconds = best_time(once, repeats)
    with out.open(encoding="utf-8") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))
    if rows != len(paths):
        raise RuntimeError(f"imgclf predict wrote {rows} rows for {len(paths)} images in {folder}")
    return seconds


def _cli(run: Path, paths: list[Path], repeats: int) -> dict[str, float]:
    """End-to-end command time, and its steady throughput: (N - B) images over (t(N) - t(B)).

    The base run of B = 33 images pays the same fixed costs as the full one (process start, model load, and
    tracing the full and the partial batch shape); with few images B is 1.
    """
    base = 33 if len(paths) >= 66 else 1
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-cli-") as tmp:
        full = _cli_seconds(run, paths, Path(tmp), repeats)
        fixed = _cli_seconds(run, paths[:base], Path(tmp), repeats)
    return {
        "cli_seconds": full,
        "cli_base_images": base,
        "cli_base_seconds": fixed,
        "cli_images_per_s": (len(paths) - base) / max(full - fixed, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--images", type=int, default=0, help="at most this many train + val images (0 = all)")
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import imgclf
    from imgclf.engine.explainer import GradCam
    from imgclf.engine.predictor import to_pixels

    clf = imgclf.load(args.run)
    paths = split_of_run(args.run, "train")[0] + split_of_run(args.run, "val")[0]
    paths = paths[: args.images or None]
    pixels = decode_all(paths, clf.input_size).astype(np.float32)
    for warm in (32, len(pixels) % 32 or 31):  # trace the full and the last batch shape outside the timing
        clf.model.predict(pixels[:warm], batch_size=32, verbose=0)
    bare = best_time(lambda: clf.model.predict(pixels, batch_size=32, verbose=0), args.repeats)
    sample = list(range(min(args.latency_samples, len(paths))))
    gradcam = GradCam(clf.model, clf.spec)

    def explained(i: int) -> None:
        result = gradcam(to_pixels(paths[i], clf.input_size))
        clf.describe(str(paths[i]), result.features, result.probabilities)

    result = {
        "images": len(paths),
        "batch_size": 32,
        "bare_images_per_s": len(paths) / bare,
        "forward_ms": _latencies(lambda i: clf.forward(pixels[i : i + 1]), sample),
        "predict_ms": _latencies(lambda i: clf.predict([paths[i]]), sample),
        "gradcam_ms": _latencies(explained, sample),
        "latency_samples": len(sample),
        "peak_rss_mib": peak_rss_mib(),
    }
    emit({**result, **_cli(args.run, paths, args.repeats)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
