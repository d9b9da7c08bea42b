"""The ``imgclf`` command line: a thin shell over the library. Each subcommand lives in ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# name -> module under imgclf.cli.commands exposing ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = {
    "check": "check",
    "train": "train",
    "predict": "predict",
    "evaluate": "evaluate",
    "suspects": "suspects",
    "explain": "explain",
    "analyze": "analyze",
    "app": "app",
    "demo": "demo",
    "cache": "cache",
    "backbones": "backbones",
}


def _load(module: str):
    return importlib.import_module(f"imgclf.cli.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="imgclf", description="Train, check, evaluate and serve image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = _load(module)
        except ModuleNotFoundError as exc:
            if exc.name != f"imgclf.cli.commands.{module}":
                raise
            continue
        mod.add_parser(sub)
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
