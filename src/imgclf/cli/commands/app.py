"""``imgclf app``: open the Streamlit app (classify, model report, dataset health, training)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_parser", "app_command", "run", "serve_forever"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``app`` subcommand."""
    parser = subparsers.add_parser(
        "app",
        help="open the web app: classify images, read model reports, check datasets, train",
        description="Start the Streamlit app. Runs are looked up in --runs; with none, the app classifies "
        "into the 1000 ImageNet classes with the pretrained ResNet50. The Dataset and Train pages read "
        "folders under --data only (uploaded zips are always accepted).",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of runs (default: runs/)")
    parser.add_argument(
        "--data", type=Path, nargs="+", default=[], metavar="DIR",
        help="folders whose datasets the app may read (default: the current folder)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=8501, help="port to serve on (default: 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--headless", action="store_true", help="do not open a browser")
    parser.set_defaults(handler=run, uses_tensorflow=False)


def app_command(
    runs: Path, *, port: int, address: str, headless: bool, data: Sequence[Path] = (), verbose: bool = False
) -> list[str]:
    """The ``streamlit run`` command line that serves the app (data roots default to the current folder;
    ``verbose`` keeps TensorFlow's log lines)."""
    main = Path(__file__).resolve().parents[2] / "app" / "main.py"
    roots = [str(Path(d).expanduser().resolve()) for d in data] or [str(Path.cwd())]
    return [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", "true" if headless else "false", "--server.showEmailPrompt", "false",
        "--server.maxUploadSize", "500", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
        "--", "--runs", str(runs.expanduser().resolve()), "--data", *roots, *(["--verbose"] if verbose else []),
    ]  # fmt: skip


def serve_forever(command: list[str]) -> int:
    """Become the Streamlit server (signals such as SIGTERM reach it directly); return its exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)  # never returns
    return subprocess.call(command)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    for folder in args.data:
        if not folder.expanduser().is_dir():
            from imgclf.errors import ImgclfError

            raise ImgclfError(f"--data '{folder}' is not a folder; pass folders that hold datasets.")
    print(f"imgclf app: runs from {args.runs.resolve()}; open http://{args.address}:{args.port}", flush=True)
    command = app_command(
        args.runs, port=args.port, address=args.address, headless=args.headless, data=args.data, verbose=args.verbose
    )
    return serve_forever(command)
