"""Connecting to Ray and sizing the actor pool, with the pitfalls seen with Ray 2.60 handled.

- ``ray.init()`` without an address attaches to any cluster it finds: a job with no ``--ray-address`` and no
  ``RAY_ADDRESS`` starts its own local Ray (``address="local"``) and stops it at the end.
- Actors that reserve every CPU starve the read tasks and the job hangs: the actors' reservation is lowered
  (fractional CPUs) so that one CPU stays free for reading.
- Clusters made by ``ray start`` use token authentication by default: a missing token is reported with
  what to do (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator

from imgclf.errors import ImgclfError

__all__ = [
    "RayOptions",
    "ScaleError",
    "actor_cpus",
    "block_count",
    "configure_tensorflow",
    "parse_actors",
    "ray_session",
    "require_ray",
]

READ_CPUS = 0.5  # CPUs a read task reserves: reading is I/O, and two fit in the CPU kept free
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
MAX_BLOCKS = 4096


class ScaleError(ImgclfError, RuntimeError):
    """Ray is missing, unreachable or refused the job; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray job runs."""

    address: str | None = None  # else $RAY_ADDRESS, else a local Ray started for the job
    actors: tuple[int, int] = (1, 1)  # min and max actors of the pool
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    batch_size: int = 32
    local_cpus: int | None = None  # CPUs of a local Ray (None: every core)


def require_ray():
    """The ``ray`` module, or a :class:`ScaleError` saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ScaleError(f"--engine ray needs Ray Data ({exc}); install it with: pip install 'imgclf[ray]'") from exc
    return ray


def parse_actors(text: str) -> tuple[int, int]:
    """``"2"`` -> (2, 2), ``"1:4"`` -> (1, 4): the bounds of an autoscaling actor pool."""
    low, sep, high = text.partition(":")
    high = high if sep else low
    if not (low.isdigit() and high.isdigit()) or not 1 <= int(low) <= int(high):
        raise ScaleError(f"--actors '{text}' must be N or MIN:MAX with 1 <= MIN <= MAX, e.g. 2 or 1:4.")
    return int(low), int(high)


def actor_cpus(options: RayOptions, cluster_cpus: float) -> tuple[float, str | None]:
    """CPUs each actor reserves, and a note when that was lowered to keep one CPU free for the read tasks."""
    budget = max(cluster_cpus - 1, cluster_cpus / 2)
    most = options.actors[1]
    if options.gpus_per_actor or options.cpus_per_actor * most <= budget:
        return options.cpus_per_actor, None
    share = math.floor(budget / most * 100) / 100
    if share <= 0:
        raise ScaleError(f"--actors {most} is more actors than {cluster_cpus:g} CPUs can hold; use fewer actors.")
    note = (
        f"{most} actor(s) x {options.cpus_per_actor:g} CPU would reserve every one of the cluster's "
        f"{cluster_cpus:g} CPUs and starve the read tasks; each actor reserves {share:g} CPU instead."
    )
    return share, note


def block_count(rows: int, options: RayOptions) -> int:
    """Blocks to split ``rows`` input rows into: one batch each, at least one per actor of the pool so each gets
    work, at most ``MAX_BLOCKS`` (larger blocks for millions of images, to bound the per-block overhead)."""
    wanted = max(-(-rows // options.batch_size), options.actors[1])
    return max(1, min(rows, MAX_BLOCKS, wanted))


def configure_tensorflow(cpus: float) -> None:
    """Size TensorFlow's thread pools to this actor's CPU share, and let GPUs it sees allocate memory as needed
    (so actors sharing a GPU with fractional ``--gpus-per-actor`` fit). No-op once TensorFlow has started."""
    import tensorflow as tf

    threads = max(1, round(cpus))
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)


def _quiet_data_context() -> None:
    """No Ray Data progress bars or execution logs: the command shows its own bar, with images/s."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[None]:
    """Connected to Ray for the job: an already initialised Ray, the given address, ``RAY_ADDRESS``, or a new
    local Ray (stopped afterwards)."""
    ray = require_ray()
    if ray.is_initialized():
        _quiet_data_context()
        yield
        return
    address = options.address or os.environ.get("RAY_ADDRESS")
    common = {"log_to_driver": False, "runtime_env": {"env_vars": WORKER_ENV}, "logging_level": "ERROR"}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(address="local", num_cpus=options.local_cpus, include_dashboard=False, **common)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
        where = f"the Ray cluster at '{address}'" if address else "a local Ray"
        raise ScaleError(
            f"Could not start or reach {where}: {exc}. Check the address (ray status), and for a cluster made by "
            "'ray start', its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."
        ) from exc
    try:
        _quiet_data_context()
        yield
    finally:
        ray.shutdown()
