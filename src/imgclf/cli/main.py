"""The ``imgclf`` command line: a thin shell over the library. Each subcommand lives in ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Modules under imgclf.cli.commands, each exposing ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = (
    "check", "train", "embed", "predict", "evaluate", "suspects", "explain", "analyze", "app", "demo", "cache",
    "backbones",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="imgclf", description="Train, check, evaluate and serve image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"imgclf.cli.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgclf`` console script; returns the exit status."""
    from imgclf.errors import ImgclfError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ImgclfError as exc:
        print(f"imgclf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
