"""``imgclf review DATA``: record review decisions (keep, relabel, exclude), list them, apply them to the folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imgclf.data.corrections import (
    Corrections,
    CorrectionsError,
    apply_to_folders,
    load_corrections,
    plan_folder_changes,
)
from imgclf.data.review import record_decision
from imgclf.evaluation.tables import format_rows

__all__ = ["add_parser", "run"]

COLUMNS = ("path", "old_label", "new_label", "action", "when")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``review`` subcommand."""
    parser = subparsers.add_parser(
        "review",
        help="record label corrections for a dataset, list them, and apply them to its folders",
        description="Decisions go to the dataset's corrections file (imgclf-corrections.csv in DATA, or beside "
        "the runs when DATA is read-only), which check, train and evaluate honour. Image files only move with "
        "--apply, after the plan is shown: relabelled images to their new class folder, excluded ones to "
        "DATA/_excluded/ (never deleted).",
    )
    parser.add_argument("data", type=Path, help="dataset folder (or CSV) as given to 'imgclf train'")
    parser.add_argument("--relabel", nargs=2, action="append", default=[], metavar=("PATH", "LABEL"),
                        help="give the image PATH the class LABEL (repeatable)")  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="PATH", help="leave PATH out (repeatable)")
    parser.add_argument("--keep", action="append", default=[], metavar="PATH", help="confirm PATH's label (repeatable)")
    parser.add_argument("--apply", action="store_true", help="move the files as the plan says")
    parser.add_argument("--yes", action="store_true", help="apply without asking (needed when not interactive)")
    parser.add_argument("--runs", type=Path, metavar="DIR",
                        help="runs folder, where a read-only dataset's corrections live (default: runs)")  # fmt: skip
    parser.set_defaults(handler=run, uses_tensorflow=False)


def _record(args: argparse.Namespace) -> None:
    asked = [(p, "relabel", label) for p, label in args.relabel]
    asked += [(p, "exclude", None) for p in args.exclude] + [(p, "keep", None) for p in args.keep]
    for path, action, label in asked:
        d = record_decision(args.data, path, action, label, runs=args.runs)
        change = f"{d.old_label} -> {d.new_label}" if d.action == "relabel" else d.old_label
        print(f"Recorded: {d.action} {d.path} ({change})")


def _show(book: Corrections) -> None:
    print(book.where())
    latest = book.latest
    if not latest:
        print("No decisions yet: use --relabel, --exclude, --keep, or the app's Review page.")
        return
    print(f"\n{len(latest)} decision(s), the latest per image:")
    print(format_rows([d.to_row() for d in latest.values()], COLUMNS))
    plan = plan_folder_changes(book)
    lines = plan.lines()
    print("\nPlan for the folders" + (f" (imgclf review {book.dataset} --apply):" if lines else ": nothing to move."))
    for line in lines:
        print(f"  {line}")


def _confirmed(args: argparse.Namespace, count: int) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CorrectionsError("--apply moves files: add --yes to confirm when not running interactively.")
    return input(f"Move {count} file(s) as shown? [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    """Record the decisions given, print them with the folder plan, and apply it with --apply."""
    _record(args)
    book = load_corrections(args.data, args.runs)
    _show(book)
    if not args.apply:
        return 0
    plan = plan_folder_changes(book)
    if not plan.changes:
        print("Nothing to apply.")
        return 0
    if not _confirmed(args, len(plan.changes)):
        print("Nothing was moved.")
        return 1
    apply_to_folders(plan)
    print(f"Moved {len(plan.changes)} file(s); the corrections file marks those decisions applied.")
    return 0
