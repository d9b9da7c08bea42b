"""``imgclf predict RUN SOURCES...``: classify images with calibrated confidence and uncertainty flags."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from imgclf.cli.engine import add_engine_arguments, positive_int, ray_options

__all__ = ["add_parser", "run"]

COLUMNS = ("path", "label", "confidence", "status", "ood_score", "top_k", "error")


def _threshold(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"'{value}' is neither 'auto' nor a confidence in [0, 1]; e.g. 0.9.")
    return number


def _coverage(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a coverage between 0 and 1 (exclusive); e.g. 0.9.")
    return number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="classify images (files, folders, globs, lists, s3:// or gs:// URIs)",
        description="Classify images with the run's calibrated confidence. A prediction below the threshold is "
        "'uncertain', one unlike the training images is 'unfamiliar', an unreadable file is 'error'.",
    )
    parser.add_argument("run", type=Path, help="run folder made by 'imgclf train'")
    parser.add_argument(
        "images",
        nargs="+",
        metavar="SOURCE",
        help="image files, folders, globs ('photos/**/*.jpg'), .txt files of paths, or s3:// / gs:// URIs",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write FILE.csv (rows streamed in as they come), FOLDER.parquet (shards) or FILE.json instead of a table",
    )
    parser.add_argument("--resume", action="store_true", help="keep the rows already in --output; predict the rest")
    parser.add_argument(
        "--threshold",
        type=_threshold,
        metavar="auto|P",
        help="confidence below which a prediction is 'uncertain': 'auto' = the one 'imgclf evaluate' chose on "
        "validation (the default when the run is calibrated), or a number such as 0.9",
    )
    parser.add_argument(
        "--sets",
        type=_coverage,
        metavar="COVERAGE",
        help="add each image's prediction set: the classes that hold the true one with at least this probability "
        "(e.g. 0.9; conformal, calibrated by 'imgclf evaluate')",
    )
    parser.add_argument("--tta", action="store_true", help="average the image and its mirror image")
    parser.add_argument("--top-k", type=positive_int, default=3, help="how many classes to list per image (default: 3)")
    add_engine_arguments(parser)
    parser.set_defaults(handler=run, uses_tensorflow=_uses_tensorflow)


def _uses_tensorflow(args: argparse.Namespace) -> bool:
    """Whether this process loads the model: not with the Ray engine, whose actors do."""
    return args.engine != "ray"


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that do not go together before any model is loaded."""
    from imgclf.errors import ImgclfError
    from imgclf.evaluation.tables import OutputError

    suffix = args.output.suffix.lower() if args.output else ""
    if args.output and suffix not in (".csv", ".parquet", ".json"):
        raise OutputError(f"--output '{args.output}' must end in .csv, .json or .parquet (a folder), e.g. preds.csv.")
    if args.output and not args.output.expanduser().parent.is_dir():
        raise OutputError(f"--output '{args.output}': folder '{args.output.parent}' does not exist; create it first.")
    if suffix in ("", ".json") and args.engine == "ray":
        raise ImgclfError("--engine ray writes its rows to --output FILE.csv or --output FOLDER.parquet; add one.")
    if suffix in ("", ".json") and args.resume:
        raise ImgclfError("--resume continues a .csv file or a .parquet folder; pass one as --output.")


def _options(args: argparse.Namespace, policy):
    """The prediction options, after checking that the run's confidence ``policy`` holds what they need."""
    from imgclf.engine.run import BundleError
    from imgclf.scale.rows import PredictOptions

    if args.threshold == "auto" and policy.threshold is None:
        raise BundleError(
            f"Run '{args.run}' has no calibrated threshold; run 'imgclf evaluate {args.run}' first "
            "or pass --threshold 0.x."
        )
    if args.threshold is None and policy.threshold is None:
        print("note: this run is not calibrated; run 'imgclf evaluate' to get a threshold.", file=sys.stderr)
    if args.sets is not None and policy.conformal is None:
        raise BundleError(
            f"Run '{args.run}' has no prediction-set calibration; run 'imgclf evaluate {args.run}' first."
        )
    threshold = args.threshold if isinstance(args.threshold, float) else None
    return PredictOptions(args.top_k, threshold, args.tta, args.batch_size, args.sets)


def _write_file(args: argparse.Namespace, sources: list[str], options) -> Counter:
    """Stream rows into the --output sink (CSV file or Parquet folder), skipping rows there with --resume."""
    from tqdm import tqdm

    from imgclf.scale.predict import predict_local, predict_on_ray
    from imgclf.scale.rows import open_sink

    sink = open_sink(args.output, resume=args.resume, sets=options.sets is not None)
    todo = [s for s in sources if s not in sink.done]
    if sink.done:
        print(
            f"Resuming: {len(sources) - len(todo)} of {len(sources)} images already in {args.output}", file=sys.stderr
        )
    counts: Counter = Counter()
    bar = tqdm(total=len(todo), unit="img", desc=f"predict ({args.engine})", file=sys.stderr, disable=None)

    def write(rows: list[dict]) -> None:
        sink.write(rows)
        counts.update(str(r["status"]) for r in rows)
        bar.update(len(rows))

    try:
        if args.engine == "ray":
            predict_on_ray(args.run, todo, options, ray_options(args, args.batch_size), write)
        else:
            from imgclf.engine.predictor import load  # Keras: the Ray engine's driver does without it

            predict_local(load(args.run), todo, options, write)
    finally:
        sink.close()
        bar.close()
    print(f"Wrote {sum(counts.values())} predictions to {args.output}")
    return counts


def run(args: argparse.Namespace) -> int:
    """Predict, then print a table or write the file; a summary of statuses goes to stderr."""
    from imgclf.engine.confidence import ConfidencePolicy
    from imgclf.engine.run import Run
    from imgclf.errors import ImgclfError
    from imgclf.evaluation.tables import format_rows, write_rows
    from imgclf.scale.predict import predict_local
    from imgclf.scale.sources import resolve_sources

    _check_flags(args)
    sources = resolve_sources(args.images)
    if not sources:
        raise ImgclfError(f"No image files in {', '.join(map(str, args.images))}; pass image files or folders.")
    run = Run.open(args.run)  # the Ray engine loads the model on its actors, not here
    options = _options(args, ConfidencePolicy.from_calibration(run.calibration))
    if args.output and args.output.suffix.lower() != ".json":
        counts = _write_file(args, sources, options)
    else:
        from imgclf.engine.predictor import load

        rows: list[dict] = []
        predict_local(load(run), sources, options, rows.extend)
        if args.output:
            print(f"Wrote {len(rows)} predictions to {write_rows(rows, args.output)}")
        else:
            print(format_rows(rows, COLUMNS if args.sets is None else (*COLUMNS[:-2], "set", *COLUMNS[-2:])))
        counts = Counter(str(r["status"]) for r in rows)
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr)
    if counts and counts["error"] == sum(counts.values()):
        print("error: no image could be read; see the error column.", file=sys.stderr)
        return 1
    return 0
