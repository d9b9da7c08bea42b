"""``imgclf backbones``: the registered backbones."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backbones", help="list the registered backbones")
    p.set_defaults(handler=run, uses_tensorflow=False)


def run(args: argparse.Namespace) -> int:
    from imgclf.models.registry import list_backbones

    print(f"{'name':<18} {'imagenet':>8} {'train':>5}  {'preprocess':<10} {'fine-tunes after':<22} weights file")
    for spec in list_backbones():
        print(
            f"{spec.name:<18} {spec.input_size:>8} {spec.default_train_size:>5}  {spec.preprocess:<10} "
            f"{spec.unfreeze_after:<22} {spec.weights_file}"
        )
    return 0
