"""Feature extraction at scale: generate N small JPEGs, then run the trainer's extraction (content hashes, the
streaming tf.data input, the on-disk feature cache, the memory-mapped feature array) and report throughput
and this process's peak memory. Run it for 1,000 and 20,000 images to see whether memory stays flat.

``python -m benchmarks.bench_scale --images N [--backbone tinycnn] [--weights none] [--size 64]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import dir_usage, emit, peak_rss_mib, rss_mib

__all__ = ["generate_images", "main"]


def generate_images(folder: Path, count: int, *, side: int = 96, seed: int = 0) -> list[Path]:
    """``count`` distinct smooth-noise JPEGs of ``side`` x ``side`` pixels, 1,000 per sub-folder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        path = folder / f"part{i // 1000:03d}" / f"img{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        coarse.resize((side, side), Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Generate, extract and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--backbone", default="tinycnn")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from imgclf.data.decode import DEFAULT_MAX_PIXELS
    from imgclf.engine.cache import FeatureCache, content_hash
    from imgclf.engine.features import extract_features
    from imgclf.models.build import build_classifier, build_head, feature_model
    from imgclf.models.registry import get_backbone
    from imgclf.models.weights import load_backbone

    spec = get_backbone(args.backbone)
    backbone, weights_id = load_backbone(spec, args.weights, args.size)
    head = build_head(feature_dim=backbone.output.shape[-1], num_classes=2, units=(), dropout=0.0)
    extractor = feature_model(build_classifier(spec, backbone, head, input_size=args.size))
    forward = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-scale-") as tmp:
        work = Path(tmp)
        paths = generate_images(work / "images", args.images)
        ready = rss_mib()
        cache = FeatureCache(
            work / "cache",
            backbone=spec.name,
            weights_id=weights_id,
            input_size=args.size,
            precision="float32",
            augment="none",
        )
        start = time.perf_counter()
        features = extract_features(
            forward,
            paths,
            [content_hash(p) for p in paths],
            views=1,
            cache=cache,
            size=args.size,
            batch_size=args.batch_size,
            augmenter=None,
            out=work / "features.npy",
            max_pixels=DEFAULT_MAX_PIXELS,
        )
        seconds = time.perf_counter() - start
        usage = dir_usage(work / "cache")
        emit(
            {
                "images": args.images,
                "backbone": spec.name,
                "input_size": args.size,
                "feature_dim": int(features.shape[-1]),
                "seconds": seconds,
                "images_per_s": args.images / seconds,
                "rss_before_mib": ready,
                "peak_rss_mib": peak_rss_mib(),
                "cache_bytes_per_1000": usage["bytes"] / args.images * 1000,
                "cache_disk_bytes_per_1000": usage["disk_bytes"] / args.images * 1000,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
