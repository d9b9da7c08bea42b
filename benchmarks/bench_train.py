"""One training run, timed per phase, with its validation accuracy, peak memory and feature-cache size.

``python -m benchmarks.bench_train DATA OUT [--recipe R] [--seed S] [--overrides JSON]``; the feature cache is
``$IMGCLF_CACHE_DIR`` (the driver gives each cold run a fresh one).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import accuracy, dir_usage, emit, peak_rss_mib, split_of_run

__all__ = ["PHASES", "main", "phase_seconds"]

PHASES = ("check", "features", "phase1", "phase2")


def phase_seconds(timings: dict[str, float], total: float) -> dict[str, float | None]:
    """The trainer's own per-phase timings (``meta.json``) plus ``other``: the wall time they leave out.

    check = dataset check, features = fast-recipe feature extraction, phase1 / phase2 = the two fits;
    other = model build and weights, input pipelines, embeddings, saving. A phase the trainer did not time is None.
    """
    found = {name: (float(timings[name]) if name in timings else None) for name in PHASES}
    return {**found, "other": max(total - sum(v for v in found.values() if v is not None), 0.0)}


def _cache_usage(folder: Path) -> dict[str, dict[str, int]]:
    """Usage of each cached combination (one sub-folder per backbone, weights, size, precision, kind)."""
    return {sub.name: dir_usage(sub) for sub in sorted(folder.iterdir())} if folder.is_dir() else {}


def _added(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """What this run added to each cached combination."""
    empty = {"files": 0, "bytes": 0, "disk_bytes": 0}
    return {name: {k: v - before.get(name, empty)[k] for k, v in usage.items()} for name, usage in after.items()}


def _val_accuracy(run: Path) -> float:
    import imgclf

    paths, labels = split_of_run(run, "val")
    predictions = imgclf.load(run).predict(paths)
    return accuracy([p.label for p in predictions], labels)


def main(argv: list[str] | None = None) -> int:
    """Train once and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overrides", default="{}", help="extra settings as a JSON object")
    args = parser.parse_args(argv)

    from imgclf.config import load_config
    from imgclf.engine.cache import cache_root
    from imgclf.engine.run import Run
    from imgclf.engine.trainer import train

    cfg = load_config(overrides={**json.loads(args.overrides), "recipe": args.recipe, "seed": args.seed})
    cache_before = _cache_usage(cache_root() / "features")
    start = time.perf_counter()
    run = train(args.data, cfg, args.out)
    total = time.perf_counter() - start
    peak = peak_rss_mib()  # before the accuracy pass loads the model a second time
    history = Run(run).history()
    timings = Run(run).meta.get("timings", {})
    train_paths, _ = split_of_run(run, "train")
    val_paths, _ = split_of_run(run, "val")
    emit(
        {
            "recipe": args.recipe,
            "seed": args.seed,
            "run": str(run),
            "total_s": total,
            "phases_s": phase_seconds(timings, total),
            "epochs": {p: sum(1 for r in history if r["phase"] == p) for p in ("1", "2")},
            "val_accuracy": _val_accuracy(run),
            "peak_rss_mib": peak,
            "train_images": len(train_paths),
            "val_images": len(val_paths),
            "cache_views": cfg.cache_views if cfg.recipe == "fast" else 0,
            "cache_added": _added(cache_before, _cache_usage(cache_root() / "features")),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
