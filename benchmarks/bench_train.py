"""One training run, timed per phase, with its validation accuracy, peak memory and feature-cache size.

``python -m benchmarks.bench_train DATA OUT [--recipe R] [--seed S] [--overrides JSON]``; the feature cache is
``$IMGCLF_CACHE_DIR`` (the driver gives each cold run a fresh one).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from benchmarks.common import accuracy, dir_usage, emit, peak_rss_mib, split_of_run

__all__ = ["main", "phase_seconds"]


def phase_seconds(events: list[tuple[float, str]], history: list[dict[str, str]], total: float) -> dict[str, float]:
    """Wall time per phase from progress events (times relative to the start) and ``history.csv`` rows.

    setup = dataset check, model build and weights (until the check stage ends); features = phase-1 feature
    extraction (fast recipe); head = the rest of phase 1; finetune = phase 2; other = saving and the rest.
    """
    last: dict[str, float] = {}
    for at, stage in events:
        last[stage] = at
    setup = last.get("check", 0.0)
    phase1 = sum(float(r["seconds"]) for r in history if r["phase"] == "1")
    phase2 = sum(float(r["seconds"]) for r in history if r["phase"] == "2")
    features = last["features"] - setup if "features" in last else 0.0
    return {
        "setup": setup,
        "features": features,
        "head": max(phase1 - features, 0.0),
        "finetune": phase2,
        "other": max(total - setup - phase1 - phase2, 0.0),
    }


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
    from imgclf.engine.trainer import train

    cfg = load_config(overrides={**json.loads(args.overrides), "recipe": args.recipe, "seed": args.seed})
    cache_before = dir_usage(cache_root() / "features")
    events: list[tuple[float, str]] = []
    start = time.perf_counter()
    run = train(args.data, cfg, args.out, progress=lambda e: events.append((time.perf_counter() - start, e.stage)))
    total = time.perf_counter() - start
    peak = peak_rss_mib()  # before the accuracy pass loads the model a second time
    with (run / "history.csv").open(encoding="utf-8") as fh:
        history = list(csv.DictReader(fh))
    train_paths, _ = split_of_run(run, "train")
    val_paths, _ = split_of_run(run, "val")
    emit(
        {
            "recipe": args.recipe,
            "seed": args.seed,
            "run": str(run),
            "total_s": total,
            "phases_s": phase_seconds(events, history, total),
            "epochs": {p: sum(1 for r in history if r["phase"] == p) for p in ("1", "2")},
            "val_accuracy": _val_accuracy(run),
            "peak_rss_mib": peak,
            "train_images": len(train_paths),
            "val_images": len(val_paths),
            "cache_views": cfg.cache_views if cfg.recipe == "fast" else 0,
            "cache_before": cache_before,
            "cache_after": dir_usage(cache_root() / "features"),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
