"""Export and the runtimes: each format's export time and size, then images/s and val accuracy per runtime.

Every export goes through ``imgclf.deploy.export_run`` (so it is verified on the val split); the runtimes then
classify the same decoded val pixels (batch 32, best of ``--repeats`` passes after a warm-up batch): Keras
float32 and mixed bfloat16, the SavedModel in TensorFlow, ONNX Runtime (float32, int8), LiteRT (float32, int8).

``python -m benchmarks.bench_export RUN [--images N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import best_time, decode_all, emit, peak_rss_mib, rebuild_classifier, split_of_run

__all__ = ["EXPORTS", "main"]

EXPORTS = (("savedmodel", None), ("onnx", None), ("onnx", "int8"), ("tflite", None), ("tflite", "int8"))
BATCH = 32


def _throughput(predict: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, repeats: int):
    """images/s on ``pixels`` (best of ``repeats``) and the probabilities."""
    from imgclf.deploy.verify import run_batched

    run_batched(predict, pixels[:BATCH], BATCH)  # warm up (tracing, allocation) outside the timing
    probs = run_batched(predict, pixels, BATCH)
    seconds = best_time(lambda: run_batched(predict, pixels, BATCH), repeats)
    return len(pixels) / seconds, probs


def _keras_rows(run: Path, pixels: np.ndarray, labels: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    """Keras float32 (the reference) and mixed bfloat16, compared with float32 like the exports."""
    import tensorflow as tf

    from imgclf.deploy.verify import compare
    from imgclf.engine.run import Run

    rows, reference, size = [], None, Run(run).model_path.stat().st_size
    for name, policy in (("Keras float32", "float32"), ("Keras mixed bfloat16", "mixed_bfloat16")):
        model = rebuild_classifier(run, policy)[0]
        forward = tf.function(lambda x, m=model: m(x, training=False), reduce_retracing=True)
        speed, probs = _throughput(forward, pixels, repeats)
        row = {"name": name, "size_bytes": size, "images_per_s": speed}
        row["val_accuracy"] = float((probs.argmax(1) == labels).mean())
        if reference is not None:
            v = compare(reference, probs, labels)
            row |= {"max_abs_diff": v.max_abs_diff, "top1_agreement": v.top1_agreement}
        rows.append(row)
        reference = probs if reference is None else reference
    return rows


def _export_row(run: Path, fmt: str, quantize: str | None, pixels, labels, repeats: int, tmp: Path) -> dict[str, Any]:
    from imgclf.deploy import FORMATS, export_run
    from imgclf.errors import ImgclfError

    name = f"{fmt} {quantize or 'float32'}"
    try:
        result = export_run(run, fmt, out=tmp / name.replace(" ", "-"), quantize=quantize, samples=len(labels))
    except ImgclfError as exc:
        return {"name": name, "error": str(exc)}
    speed, probs = _throughput(FORMATS[fmt].open(result.model_path), pixels, repeats)
    return {
        "name": name,
        "export_s": result.export_seconds,
        "size_bytes": result.size_bytes,
        "max_abs_diff": result.verification.max_abs_diff,
        "top1_agreement": result.verification.top1_agreement,
        "images_per_s": speed,
        "val_accuracy": float((probs.argmax(1) == labels).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    """Export every format, time every runtime, print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--images", type=int, default=0, help="a seeded sample of this many val images (0 = all)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    from imgclf.deploy.verify import sample
    from imgclf.engine.predictor import load

    clf = load(args.run)
    pairs = list(zip(*split_of_run(args.run, "val"), strict=True))
    pairs = sample(pairs, args.images or len(pairs))  # a seeded sample across classes, in split order
    pixels = decode_all([p for p, _ in pairs], clf.input_size).astype(np.float32)
    labels = np.asarray([clf.classes.index(name) for _, name in pairs])
    rows = _keras_rows(args.run, pixels, labels, args.repeats)
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-export-") as tmp:
        rows += [_export_row(args.run, f, q, pixels, labels, args.repeats, Path(tmp)) for f, q in EXPORTS]
    emit({"images": len(pixels), "batch_size": BATCH, "rows": rows, "peak_rss_mib": peak_rss_mib()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
