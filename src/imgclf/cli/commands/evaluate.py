"""``imgclf evaluate RUN``: metrics, calibration, thresholds, OOD, suspects, plots and an HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a fraction in (0, 1]; e.g. 0.98.")
    return number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a run, calibrate its confidence and write a report",
        description="Measure a finished run on its test split (or --data), fit temperature scaling, the "
        "confidence threshold and the OOD threshold on validation (stored in RUN/calibration.json and used by "
        "every prediction), rank suspect training images, and write RUN/eval/ (metrics.json, plots/, "
        "predictions.csv, report.html).",
    )
    parser.add_argument("run", type=Path, help="run folder made by 'imgclf train'")
    parser.add_argument(
        "--data",
        metavar="DIR_OR_SPLIT",
        help="train, val or test (a split of the run), or another dataset folder / CSV (default: test, else val)",
    )
    parser.add_argument(
        "--outside",
        type=Path,
        metavar="DIR",
        help="images unlike every class, to measure the OOD score (default: scikit-image's sample photos)",
    )
    parser.add_argument(
        "--target-accuracy",
        type=_fraction,
        default=0.98,
        metavar="P",
        help="selective accuracy the confidence threshold must reach on validation (default: 0.98)",
    )
    parser.add_argument(
        "--html", action=argparse.BooleanOptionalAction, default=True, help="write eval/report.html (default: yes)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the summary table and where everything was written."""
    from imgclf.evaluation import evaluate

    result = evaluate(
        args.run,
        data=args.data,
        outside=args.outside,
        target_accuracy=args.target_accuracy,
        html=args.html,
        progress=lambda message: print(message, file=sys.stderr),
    )
    print(result.summary())
    for note in result.metrics["notes"]:
        print(f"note: {note}")
    print(f"\nWrote {result.eval_dir} and the run's calibration")
    if result.report is not None:
        print(f"Report: {result.report}")
    return 0
