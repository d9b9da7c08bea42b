"""Scale: the trainer on a generated set of N small JPEGs, for feature-extraction throughput and peak memory.

Generates ``{train,val}/{a,b}/`` (90 % train) of 96x96 smooth-noise JPEGs, then runs ``train()`` with a cheap
backbone (default ``tinycnn`` at 64 px, random weights), no augmented views, one phase-1 epoch and no phase 2:
the dataset check, content hashing, streaming input, on-disk cache and memory-mapped features all run at full
size. Run it for 1,000 and 20,000 images to see whether memory stays flat.

``python -m benchmarks.bench_scale --images N [--backbone tinycnn] [--weights none] [--size 64]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import dir_usage, emit, peak_rss_mib

__all__ = ["generate_dataset", "main"]


def generate_dataset(root: Path, count: int, *, side: int = 96, seed: int = 0) -> Path:
    """``count`` distinct JPEGs in ``root/{train,val}/{a,b}/``, every tenth one in val."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        split = "val" if i % 10 == 9 else "train"
        folder = root / split / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        coarse.resize((side, side), Image.Resampling.BILINEAR).save(folder / f"img{i:06d}.jpg", quality=90)
    return root


def main(argv: list[str] | None = None) -> int:
    """Generate, train and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--backbone", default="tinycnn")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)

    from imgclf.config import load_config
    from imgclf.engine.cache import cache_root
    from imgclf.engine.run import Run
    from imgclf.engine.trainer import train

    settings = {"backbone": args.backbone, "weights": args.weights, "input_size": args.size}
    cfg = load_config(overrides={**settings, "cache_views": 0, "phase1_epochs": 1, "phase2_epochs": 0})
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-scale-") as tmp:
        data = generate_dataset(Path(tmp) / "data", args.images)
        start = time.perf_counter()
        run = train(data, cfg, Path(tmp) / "run")
        seconds = time.perf_counter() - start
        timings = Run(run).meta.get("timings", {})
        usage = dir_usage(cache_root() / "features")
    features_s = timings.get("features")
    emit(
        {
            "images": args.images,
            "backbone": args.backbone,
            "input_size": args.size,
            "seconds": seconds,
            "check_s": timings.get("check"),
            "features_s": features_s,
            "images_per_s": args.images / features_s if features_s else None,
            "peak_rss_mib": peak_rss_mib(),
            "cache_bytes_per_1000": usage["bytes"] / args.images * 1000,
            "cache_disk_bytes_per_1000": usage["disk_bytes"] / args.images * 1000,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
