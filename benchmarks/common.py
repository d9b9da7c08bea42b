"""Helpers shared by the measurement scripts: the result line, peak memory, timing, run data, model rebuilds.

Each measurement script runs in its own process and prints exactly one line ``BENCH_RESULT {json}`` on
stdout; the driver (:mod:`benchmarks.run`) collects those lines.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

__all__ = [
    "RESULT_PREFIX",
    "accuracy",
    "best_time",
    "decode_all",
    "dir_usage",
    "emit",
    "parse_result",
    "peak_rss_mib",
    "percentiles",
    "rebuild_classifier",
    "rss_mib",
    "split_of_run",
]

RESULT_PREFIX = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    """Print the one result line of a measurement script."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The result a measurement script printed, or ``None`` when it printed none."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    return json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (VmHWM; ``ru_maxrss`` where /proc is missing), in MiB."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    now = _status_mib("VmRSS")
    return now if now is not None else peak_rss_mib()


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95)) -> dict[str, float]:
    """``{"p50": ..., "p95": ...}`` of ``values``."""
    return {f"p{q:g}": float(np.percentile(np.asarray(values, dtype=float), q)) for q in qs}


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (seconds): the least disturbed by other processes."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def decode_all(paths: Sequence[Path], size: int) -> np.ndarray:
    """Every image of ``paths`` decoded by imgclf's shared decoder, as one ``(n, size, size, 3)`` uint8 array."""
    from imgclf.data.decode import decode_image

    return np.stack([decode_image(p, size) for p in paths])


def split_of_run(run: Path, split: str) -> tuple[list[Path], list[str]]:
    """Paths and labels of ``split`` as the run recorded them."""
    from imgclf.engine.run import Run

    rows = Run(run).splits()[split]
    return [p for p, _ in rows], [label for _, label in rows]


def accuracy(predicted: Sequence[str | None], truth: Sequence[str]) -> float:
    """Share of predicted labels equal to the true ones."""
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)])) if truth else float("nan")


def dir_usage(folder: Path) -> dict[str, int]:
    """Files under ``folder``, their bytes, and the bytes they occupy on disk (allocated blocks)."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()] if Path(folder).is_dir() else []
    stats = [p.stat() for p in files]
    return {
        "files": len(files),
        "bytes": sum(s.st_size for s in stats),
        "disk_bytes": sum(s.st_blocks * 512 for s in stats),
    }


def rebuild_classifier(run: Path, policy: str) -> tuple[keras.Model, tuple[str, ...], int]:
    """The run's model rebuilt under the Keras dtype ``policy`` (e.g. ``mixed_bfloat16``) with its trained weights."""
    from imgclf.config import load_config
    from imgclf.engine.predictor import load
    from imgclf.engine.run import Run
    from imgclf.models.build import rebuild
    from imgclf.models.registry import get_backbone

    handle = Run.open(run)
    trained = load(handle)
    cfg = load_config(overrides=handle.config)
    model = rebuild(
        trained.model, get_backbone(handle.backbone), policy=policy, head_units=cfg.head_units, dropout=cfg.dropout
    )
    return model, trained.classes, handle.input_size
