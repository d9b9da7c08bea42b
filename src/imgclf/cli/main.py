"""The ``imgclf`` command line: a thin shell over the library. Each subcommand lives in ``commands/``.

Building the parser and running the light commands (``check``, ``backbones``, ``cache``, ``app``) never
imports TensorFlow, nor does ``predict --engine ray`` (its Ray actors load the model); the other commands import
it quietly (see :mod:`imgclf.quiet`) unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Modules under imgclf.cli.commands, each exposing ``add_parser(subparsers)`` and ``run(args) -> int``.
# A command that never needs TensorFlow says so with ``set_defaults(uses_tensorflow=False)``; one that needs it
# only with some flags sets ``uses_tensorflow`` to a function of the parsed arguments.
COMMANDS = (
    "check", "train", "embed", "predict", "evaluate", "suspects", "review", "compare", "explain", "analyze",
    "export", "serve", "app", "demo", "cache", "backbones",
)  # fmt: skip
VERBOSE_HELP = "also show TensorFlow's own log lines (hidden by default) and the traceback of an unexpected error"
EXIT_UNEXPECTED = 3


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand; ``--verbose`` goes before or after the command."""
    parser = argparse.ArgumentParser(prog="imgclf", description="Train, check, evaluate and serve image classifiers.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.set_defaults(uses_tensorflow=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"imgclf.cli.commands.{name}").add_parser(sub)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def _run(args: argparse.Namespace) -> int:
    if not args.verbose:
        from imgclf.quiet import import_tensorflow_quietly, quiet_environment

        quiet_environment(os.environ)  # before TensorFlow loads, here or in a child process (imgclf app)
        uses = args.uses_tensorflow
        if uses(args) if callable(uses) else uses:
            import_tensorflow_quietly()
    return int(args.handler(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgclf`` console script; returns the exit status.

    0: done; 1: ``check`` found errors; 2: bad input (one line says what to do); 3: an unexpected error
    (a bug: one line, the traceback with ``--verbose``); 130: interrupted.
    """
    from imgclf.errors import ImgclfError

    args = build_parser().parse_args(argv)
    prefix = f"imgclf {args.command}: error:"
    try:
        return _run(args)
    except (ImgclfError, OSError) as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(
            f"{prefix} unexpected {type(exc).__name__}: {exc}\nThis is a bug in imgclf; run the command again with "
            "--verbose to see the traceback, and report it.",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
