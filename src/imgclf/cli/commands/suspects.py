"""``imgclf suspects RUN``: training images that are likely mislabelled or out of place."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]

COLUMNS = ("source", "given", "suggested", "label_quality", "outlier_score", "reason")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``suspects`` subcommand."""
    parser = subparsers.add_parser(
        "suspects",
        help="list training images that look mislabelled or out of place",
        description="Rank a run's training images (or every image of --data) by suspicion: confident learning "
        "on cross-validated probabilities of the run's embeddings, and distance to the other images.",
    )
    parser.add_argument("run", type=Path, help="run folder made by 'imgclf train'")
    parser.add_argument("--data", type=Path, metavar="DIR", help="rank this dataset's images instead")
    parser.add_argument("--top", type=int, default=20, help="how many to list (default: 20)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write all columns to a .csv or .json file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print (or write) the ranked suspects."""
    from imgclf.evaluation.suspects import rank_run_suspects
    from imgclf.evaluation.tables import check_output, format_rows, write_rows

    if args.output:
        check_output(args.output)
    rows = [s.to_row() for s in rank_run_suspects(args.run, data=args.data, top=max(1, args.top))]
    if args.output:
        print(f"Wrote {len(rows)} suspects to {write_rows(rows, args.output)}")
    else:
        print(format_rows(rows, COLUMNS))
    return 0
