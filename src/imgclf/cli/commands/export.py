"""``imgclf export RUN --format FORMAT``: a standalone model for another runtime, verified before it is kept."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]

FORMAT_CHOICES = ("savedmodel", "onnx", "tflite", "tfjs")


def _samples(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1.")
    return int(value)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export a run for TF Serving, ONNX Runtime or LiteRT (verified)",
        description="Export RUN as a model that takes raw RGB pixels and returns probabilities, with labels.json, "
        "calibration.json, MODEL_CARD.md and predict.py. The export is run in its own runtime on validation "
        "images and compared with the Keras model before it is kept. Converters: pip install 'imgclf[export]'.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a finished run folder")
    parser.add_argument("--format", required=True, choices=FORMAT_CHOICES, help="savedmodel (TF Serving), onnx, tflite")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="export folder (default: exports/RUN-FORMAT[-QUANTIZE])"
    )
    parser.add_argument(
        "--quantize",
        choices=("float16", "int8"),
        help="onnx and tflite: float16 weights, or int8 calibrated on "
        "the run's training images (accuracy checked on validation)",
    )
    parser.add_argument(
        "--samples", type=_samples, default=200, metavar="N", help="validation images to verify on (default: 200)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export, verify, and print where the export is, its size and how it compares with Keras."""
    from imgclf.deploy import export_run

    result = export_run(
        args.run_dir, args.format, out=args.out, quantize=args.quantize, samples=args.samples, progress=print
    )
    v = result.verification
    print(f"Largest probability difference vs Keras: {v.max_abs_diff:.2e}")
    print(f"Top-1 agreement with Keras: {v.top1_agreement:.1%} of {v.images} validation images")
    print(f"Validation accuracy: {v.export_accuracy:.1%} (Keras {v.keras_accuracy:.1%})")
    print(f"Exported {result.model_path} ({result.size_bytes / 1e6:.1f} MB, {result.export_seconds:.1f} s)")
    print(f"See {result.out / 'MODEL_CARD.md'}; try: cd {result.out} && python predict.py IMAGE")
    return 0
