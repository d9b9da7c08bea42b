"""Inference under one Keras dtype policy: the run's trained weights in a model rebuilt under ``--policy``
(float32, mixed_bfloat16, mixed_float16), timed on decoded train + val pixels (batch 32, compiled forward)
and scored on the run's validation split.

``python -m benchmarks.bench_precision RUN --policy mixed_bfloat16 [--images N] [--repeats R]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.common import accuracy, best_time, decode_all, emit, peak_rss_mib, rebuild_classifier, split_of_run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Measure and print the result line (``skipped`` when the policy needs a GPU and none is visible)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--policy", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--images", type=int, default=0, help="at most this many train + val images (0 = all)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from imgclf.models.build import cpu_supports_bf16

    gpu = bool(tf.config.list_physical_devices("GPU"))
    if args.policy == "mixed_float16" and not gpu:
        emit({"policy": args.policy, "skipped": "no GPU visible to TensorFlow (float16 is a GPU setting)"})
        return 0
    model, classes, size = rebuild_classifier(args.run, args.policy)
    signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]
    forward = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def run_all(pixels: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(forward(pixels[i : i + 32]), np.float32) for i in range(0, len(pixels), 32)])

    val_paths, val_labels = split_of_run(args.run, "val")
    val_pixels = decode_all(val_paths, size).astype(np.float32)
    predicted = [classes[i] for i in run_all(val_pixels).argmax(axis=1)]
    paths = split_of_run(args.run, "train")[0] + val_paths
    pixels = decode_all(paths[: args.images or None], size).astype(np.float32)
    run_all(pixels[:32])  # warm up outside the timing (traced once: any batch size)
    seconds = best_time(lambda: run_all(pixels), args.repeats)
    emit(
        {
            "policy": args.policy,
            "device": "GPU" if gpu else "CPU",
            "cpu_bf16": cpu_supports_bf16(),
            "images": len(pixels),
            "images_per_s": len(pixels) / seconds,
            "val_accuracy": accuracy(predicted, val_labels),
            "val_images": len(val_labels),
            "peak_rss_mib": peak_rss_mib(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
