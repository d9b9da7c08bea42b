"""``imgclf check DATA``: the dataset health report (exit status 1 when training would be unsafe)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="check a dataset's health before training",
        description="Decode every image once and report corrupt or non-image files, duplicates and leakage "
        "across splits, tiny images, odd formats, empty or missing classes and imbalance. "
        "Exit status 1 when training would be unsafe.",
    )
    parser.add_argument("data", type=Path, help="folder of class folders (optionally under train/val/test) or CSV")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=(0.7, 0.15, 0.15),
        metavar=("TRAIN", "VAL", "TEST"),
        help="fractions used when DATA has no split folders (default: 0.7 0.15 0.15)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of that split (default: 0)")
    parser.add_argument("--min-side", type=int, default=32, help="images smaller than this are 'tiny' (default: 32)")
    parser.add_argument(
        "--runs", type=Path, metavar="DIR", help="runs folder, where a read-only dataset's review corrections live"
    )
    parser.set_defaults(handler=run, uses_tensorflow=False)


def run(args: argparse.Namespace) -> int:
    """Print the report; return 1 when it has errors, else 0."""
    from imgclf.data.check import check_dataset

    report = check_dataset(args.data, split=tuple(args.split), seed=args.seed, min_side=args.min_side, runs=args.runs)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_table())
    return 0 if report.is_safe else 1
