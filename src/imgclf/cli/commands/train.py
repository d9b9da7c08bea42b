"""``imgclf train DATA``: two-phase transfer learning into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgclf.cli.engine import add_engine_arguments

__all__ = ["add_config_arguments", "add_parser", "config_overrides", "run"]


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The settings flags shared by ``train`` and ``embed`` (the same settings give the same cache entries)."""
    p.add_argument("data", help="dataset folder ({train,val,test}/<class>/, <class>/...) or CSV of path,label")
    p.add_argument("--config", help="YAML file of settings (see imgclf/config/default.yaml)")
    p.add_argument("--backbone", help="backbone name (see `imgclf backbones`)")
    p.add_argument("--weights", help="imagenet | PATH to a .weights.h5 file | none")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--augment", choices=["none", "light", "classic", "strong"])
    p.add_argument(
        "--mixed-precision",
        choices=["auto", "bfloat16", "float16", "off"],
        help="auto (default): bfloat16 on CPUs that have it, float16 on GPUs, else float32; off: float32",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other setting (YAML value)")
    p.add_argument(
        "--ignore-check",
        action="store_true",
        help="train even when the dataset check finds errors such as leakage across splits (recorded in the run)",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier on a folder of class folders (or a CSV)")
    add_config_arguments(p)
    p.add_argument("--out", default="runs/train", help="run folder (a suffix is added if it exists)")
    p.add_argument("--recipe", choices=["fast", "classic"], help="fast (default) or the original design's recipe")
    p.add_argument("--epochs", type=int, nargs=2, metavar=("P1", "P2"), help="epochs of phase 1 and phase 2")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run at --out")
    p.add_argument("--progress-file", help="append progress events as JSON lines to this file")
    add_engine_arguments(p, batch_size=False)
    p.set_defaults(handler=run)


def _set_value(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``, the value read as YAML (``0.3``, ``[256]``, ``null``)."""
    import yaml

    from imgclf.config import ConfigError

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set '{item}' must look like KEY=VALUE, e.g. --set dropout=0.3")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(
            f"--set '{item}': '{value}' is not a valid value ({problem}); e.g. --set head_units=[256]"
        ) from None


def config_overrides(args: argparse.Namespace) -> dict:
    """The settings the flags ask for (``None`` values are left to the config file and the defaults)."""
    out = {
        "backbone": args.backbone,
        "weights": args.weights,
        "recipe": vars(args).get("recipe"),
        "batch_size": args.batch_size,
        "augment": args.augment,
        "mixed_precision": False if args.mixed_precision == "off" else args.mixed_precision,
        "seed": args.seed,
    }
    if vars(args).get("epochs"):
        out["phase1_epochs"], out["phase2_epochs"] = args.epochs
    out.update(_set_value(item) for item in args.set)
    return out


def run(args: argparse.Namespace) -> int:
    from imgclf.config import load_config
    from imgclf.engine.progress import JsonlProgress, ProgressEvent, TqdmProgress
    from imgclf.engine.trainer import train

    bars = TqdmProgress()
    sinks = [bars] + ([JsonlProgress(args.progress_file)] if args.progress_file else [])

    def progress(event: ProgressEvent) -> None:
        for sink in sinks:
            sink(event)

    try:
        cfg = load_config(args.config, config_overrides(args))
        if args.engine == "ray":  # extract the features on the cluster first: training then starts warm
            from imgclf.cli.commands.embed import embed_with_bar

            embed_with_bar(args, cfg)
        run_dir = train(
            args.data, cfg, Path(args.out), progress=progress, resume=args.resume, ignore_check=args.ignore_check
        )
    except Exception as exc:
        bars.close()
        if args.progress_file:
            JsonlProgress(args.progress_file)(ProgressEvent("error", 0, 0, str(exc)))
        raise
    print(run_dir)
    return 0
