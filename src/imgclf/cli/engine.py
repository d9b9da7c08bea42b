"""The ``--engine local|ray`` flags shared by ``predict``, ``embed`` and ``train``."""

from __future__ import annotations

import argparse

__all__ = ["add_engine_arguments", "positive_int", "ray_options"]


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1.")
    return int(value)


def _share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of CPUs or GPUs (0 or more, e.g. 1 or 0.5).")
    return number


def add_engine_arguments(parser: argparse.ArgumentParser, *, batch_size: bool = True) -> None:
    """Add ``--engine`` and the Ray flags (address, actors, CPUs and GPUs per actor, batch size)."""
    group = parser.add_argument_group("engine (see docs/SCALING.md)")
    group.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local (default): this process; ray: a pool of Ray actors, one model each",
    )
    group.add_argument("--ray-address", metavar="ADDR", help="Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    group.add_argument("--actors", default="1", metavar="MIN:MAX", help="actors in the pool, e.g. 2 or 1:8 (default 1)")
    group.add_argument("--cpus-per-actor", type=_share, default=1.0, metavar="N", help="CPUs per actor (default 1)")
    group.add_argument("--gpus-per-actor", type=_share, default=0.0, metavar="N", help="GPUs per actor (default 0)")
    if batch_size:
        group.add_argument("--batch-size", type=positive_int, default=32, help="images per model call (default 32)")


def ray_options(args: argparse.Namespace, batch_size: int):
    """The :class:`~imgclf.scale.cluster.RayOptions` the flags ask for."""
    from imgclf.scale.cluster import RayOptions, parse_actors

    return RayOptions(
        address=args.ray_address,
        actors=parse_actors(args.actors),
        cpus_per_actor=args.cpus_per_actor,
        gpus_per_actor=args.gpus_per_actor,
        batch_size=batch_size,
    )
