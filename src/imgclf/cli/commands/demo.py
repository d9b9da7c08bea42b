"""``imgclf demo``: check -> train -> evaluate on the sample photos shipped with imgclf, then open the app."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="check, train and evaluate on the bundled ants/bees photos, then open the app")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder for the demo run (default: runs/)")
    p.add_argument("--no-app", action="store_true", help="stop after the evaluation instead of opening the app")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="serve the app without opening a browser")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imgclf.cli.commands.app import app_command, serve_forever
    from imgclf.config import load_config
    from imgclf.data.check import check_dataset
    from imgclf.data.samples import sample_dataset
    from imgclf.engine.progress import TqdmProgress
    from imgclf.engine.trainer import train
    from imgclf.evaluation import evaluate

    data = sample_dataset()
    print(f"1/4 Checking the sample dataset {data}\n")
    print(check_dataset(data).format_table())
    print("\n2/4 Training (ResNet50, fast recipe: cached features, then fine-tuning)\n")
    run_dir = train(data, load_config(), args.runs / "demo", progress=TqdmProgress())
    print(f"\n3/4 Evaluating {run_dir}\n")
    result = evaluate(run_dir)
    print(result.summary())
    if result.report:
        print(f"\nReport: {result.report}")
    if args.no_app:
        return 0
    print(f"\n4/4 Opening the app on http://127.0.0.1:{args.port} (Ctrl+C to stop)")
    command = app_command(args.runs, port=args.port, address="127.0.0.1", headless=args.headless, verbose=args.verbose)
    return serve_forever(command)
