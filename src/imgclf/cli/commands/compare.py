"""``imgclf compare RUN_A RUN_B``: two evaluated runs side by side, and which to keep."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="compare two evaluated runs (e.g. before and after review) and say which to keep",
        description="Metrics side by side, the images whose label changed between the runs' data, the evaluation "
        "images whose prediction changed (re-scored on today's labels), and a recommendation.",
    )
    parser.add_argument("run_a", type=Path, help="the baseline run (e.g. trained before review)")
    parser.add_argument("run_b", type=Path, help="the candidate run (e.g. retrained with corrections)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the comparison."""
    import dataclasses

    from imgclf.evaluation.compare import compare_runs

    comparison = compare_runs(args.run_a, args.run_b)
    if args.json:
        data = dataclasses.asdict(comparison)
        data["changed"] = [{**dataclasses.asdict(c), "verdict": c.verdict} for c in comparison.changed]
        print(json.dumps(data, indent=2, default=str))
    else:
        print(comparison.format())
    return 0
