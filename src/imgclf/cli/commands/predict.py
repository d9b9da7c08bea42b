"""``imgclf predict RUN IMAGES...``: classify images with calibrated confidence and uncertainty flags."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

__all__ = ["add_parser", "run"]

COLUMNS = ("path", "label", "confidence", "status", "ood_score", "top_k", "error")


def _threshold(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"'{value}' is neither 'auto' nor a confidence in [0, 1]; e.g. 0.9.")
    return number


def _coverage(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a coverage between 0 and 1 (exclusive); e.g. 0.9.")
    return number


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1.")
    return int(value)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="classify images (files or folders)",
        description="Classify images with the run's calibrated confidence. A prediction below the threshold is "
        "'uncertain', one unlike the training images is 'unfamiliar', an unreadable file is 'error'.",
    )
    parser.add_argument("run", type=Path, help="run folder made by 'imgclf train'")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_DIR", help="image files or folders")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write a .csv or .json file instead of a table")
    parser.add_argument(
        "--threshold",
        type=_threshold,
        metavar="auto|P",
        help="confidence below which a prediction is 'uncertain': 'auto' = the one 'imgclf evaluate' chose on "
        "validation (the default when the run is calibrated), or a number such as 0.9",
    )
    parser.add_argument(
        "--sets",
        type=_coverage,
        metavar="COVERAGE",
        help="add each image's prediction set: the classes that hold the true one with at least this probability "
        "(e.g. 0.9; conformal, calibrated by 'imgclf evaluate')",
    )
    parser.add_argument("--tta", action="store_true", help="average the image and its mirror image")
    parser.add_argument("--top-k", type=_positive, default=3, help="how many classes to list per image (default: 3)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Predict, then print a table or write the file; a summary of statuses goes to stderr."""
    from imgclf.engine.predictor import load
    from imgclf.engine.run import BundleError
    from imgclf.errors import ImgclfError
    from imgclf.evaluation.inputs import image_files
    from imgclf.evaluation.tables import check_output, format_rows, write_rows

    if args.output:
        check_output(args.output)
    files = image_files(args.images)
    if not files:
        raise ImgclfError(f"No image files in {', '.join(map(str, args.images))}; pass image files or folders.")
    clf = load(args.run)
    if args.threshold == "auto" and clf.policy.threshold is None:
        raise BundleError(
            f"Run '{args.run}' has no calibrated threshold; run 'imgclf evaluate {args.run}' first "
            "or pass --threshold 0.x."
        )
    if args.threshold is None and clf.policy.threshold is None:
        print("note: this run is not calibrated; run 'imgclf evaluate' to get a threshold.", file=sys.stderr)
    threshold = args.threshold if isinstance(args.threshold, float) else None
    if args.sets is not None and clf.policy.conformal is None:
        raise BundleError(
            f"Run '{args.run}' has no prediction-set calibration; run 'imgclf evaluate {args.run}' first."
        )
    top_k = min(args.top_k, len(clf.classes))
    predictions = clf.predict(files, top_k=top_k, threshold=threshold, tta=args.tta, sets=args.sets)
    rows = [p.to_row() for p in predictions]
    if args.output:
        print(f"Wrote {len(rows)} predictions to {write_rows(rows, args.output)}")
    else:
        columns = COLUMNS if args.sets is None else (*COLUMNS[:-2], "set", *COLUMNS[-2:])
        print(format_rows(rows, columns))
    counts = Counter(p.status for p in predictions)
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr)
    if counts["error"] == len(predictions):
        print("error: no image could be read; see the error column.", file=sys.stderr)
        return 1
    return 0
