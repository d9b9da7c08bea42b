"""The training floor: one bare forward pass of the default backbone over the train + val images, decoding
included (imgclf's tf.data pipeline, batch size of the default config), timed after one warm-up batch.

``python -m benchmarks.bench_floor DATA``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import emit, peak_rss_mib

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Time the pass and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from imgclf.config import load_config
    from imgclf.data.layout import discover
    from imgclf.data.pipeline import image_dataset
    from imgclf.models.build import build_classifier, build_head, feature_model
    from imgclf.models.registry import get_backbone, resolve_input_size
    from imgclf.models.weights import load_backbone

    cfg = load_config()
    spec = get_backbone(cfg.backbone)
    size = resolve_input_size(cfg, spec)
    layout = discover(args.data, split=cfg.split, seed=cfg.seed)
    paths = [s.path for s in layout.samples if s.split in ("train", "val")]
    backbone, _ = load_backbone(spec, cfg.weights, size)
    head = build_head(feature_dim=backbone.output.shape[-1], num_classes=2, units=(), dropout=0.0)
    extractor = feature_model(build_classifier(spec, backbone, head, input_size=size))
    signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]
    forward = tf.function(lambda x: extractor(x, training=False), input_signature=signature)
    forward(np.zeros((cfg.batch_size, size, size, 3), np.float32))  # trace once (any batch size), outside the timing
    start = time.perf_counter()
    seen = 0
    for batch in image_dataset(paths, None, size=size, batch_size=cfg.batch_size, max_pixels=cfg.max_pixels):
        seen += len(np.asarray(forward(batch)))
    seconds = time.perf_counter() - start
    emit(
        {
            "backbone": spec.name,
            "input_size": size,
            "images": seen,
            "seconds": seconds,
            "images_per_s": seen / seconds,
            "peak_rss_mib": peak_rss_mib(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
