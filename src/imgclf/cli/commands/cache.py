"""``imgclf cache info|clear``: the on-disk feature cache."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or clear the feature cache")
    p.add_argument("action", choices=["info", "clear"])
    p.set_defaults(handler=run, uses_tensorflow=False)


def run(args: argparse.Namespace) -> int:
    from imgclf.engine.cache import cache_info, cache_root, clear_cache

    if args.action == "clear":
        print(f"Freed {clear_cache() / 1e6:.1f} MB from {cache_root()}")
        return 0
    rows = cache_info()
    print(f"Feature cache: {cache_root()}")
    for row in rows:
        print(f"  {row['name']:<40} {row['entries']:>8} entries {int(row['bytes']) / 1e6:>10.1f} MB")
    if not rows:
        print("  (empty)")
    return 0
