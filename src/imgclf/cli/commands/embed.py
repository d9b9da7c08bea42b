"""``imgclf embed DATA``: fill the feature cache (locally or on a Ray cluster) so ``imgclf train`` starts warm."""

from __future__ import annotations

import argparse
import sys

from imgclf.cli.commands.train import add_config_arguments, config_overrides
from imgclf.cli.engine import add_engine_arguments, ray_options

__all__ = ["add_parser", "embed_with_bar", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``embed`` subcommand."""
    p = sub.add_parser(
        "embed",
        help="extract backbone features into the cache (e.g. on a Ray cluster) so training starts warm",
        description="Run the frozen backbone over every image and view that 'imgclf train DATA' with the same "
        "settings would use, and store the results in the feature cache ($IMGCLF_CACHE_DIR).",
    )
    add_config_arguments(p)
    add_engine_arguments(p, batch_size=False)
    p.set_defaults(handler=run)


def embed_with_bar(args: argparse.Namespace, cfg) -> None:
    """Embed ``args.data`` with the engine the flags ask for, showing progress (views/s) and a summary."""
    from tqdm import tqdm

    from imgclf.engine.progress import TqdmProgress
    from imgclf.scale.embed import embed_dataset

    bar = tqdm(unit="view", desc="embed (ray)", file=sys.stderr, disable=None if args.engine == "ray" else True)
    stages = TqdmProgress()
    try:
        summary = embed_dataset(
            args.data,
            cfg,
            engine=args.engine,
            options=ray_options(args, cfg.batch_size),
            progress=stages if args.engine == "local" else None,
            count=bar.update,
            ignore_check=args.ignore_check,
        )
    finally:
        bar.close()
        stages.close()
    rate = f" ({summary.computed / summary.seconds:.1f} views/s)" if summary.computed else ""
    print(
        f"Embedded {summary.computed} image views of {summary.images} images in {summary.seconds:.1f} s on "
        f"{args.engine}{rate}; {summary.already_cached} were already cached."
    )
    for path in summary.failed:
        print(f"warning: could not embed '{path}' (unreadable now); training will retry it.", file=sys.stderr)
    print(f"Feature cache: {', '.join(summary.caches)}")


def run(args: argparse.Namespace) -> int:
    """Embed, then say how many entries were computed and which caches hold them."""
    from imgclf.config import load_config

    embed_with_bar(args, load_config(args.config, config_overrides(args)))
    return 0
