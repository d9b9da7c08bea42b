"""One dataset of the accuracy and trust suite: train a recipe (cold cache), evaluate, report the figures.

``python -m benchmarks.bench_domain DATA OUT --recipe fast|classic [--seed N] [--outside DIR] [--leave-out CLASS]``

Accuracy with a 95 % bootstrap interval, macro F1, ECE after calibration, wall time, the false-unfamiliar rate
on the evaluation images, the share of ``--outside`` images (other domains) flagged unfamiliar, selective
accuracy at the automatic threshold, and conformal set coverage. With ``--leave-out``, the class is removed
from training and its test images become the outside set: the OOD AUROC is then the near-OOD figure.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import emit, peak_rss_mib

BOOTSTRAP = 2000


def bootstrap_interval(correct: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of ``correct``."""
    rng = np.random.default_rng(seed)
    means = rng.choice(correct, size=(BOOTSTRAP, len(correct)), replace=True).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _without_class(data: Path, label: str, dest: Path) -> tuple[Path, Path]:
    """A copy of ``data`` without ``label`` in any split, and a folder of that class's evaluation images."""
    shutil.copytree(data, dest / "data", ignore=lambda folder, names: [n for n in names if n == label])
    held = dest / "left-out"
    split = "test" if (data / "test" / label).is_dir() else "val"
    shutil.copytree(data / split / label, held)
    return dest / "data", held


def flagged_by_source(run_dir: Path, outside: Path | None) -> dict[str, float]:
    """Share of the ``outside`` images flagged unfamiliar, per source (the file-name prefix before the first '-',
    which the suite sets to the dataset the image came from)."""
    if outside is None:
        return {}
    import imgclf

    files = sorted(p for p in outside.iterdir() if p.is_file())
    flags: dict[str, list[bool]] = {}
    for path, pred in zip(files, imgclf.load(run_dir).predict(files), strict=True):
        flags.setdefault(path.name.split("-")[0], []).append(pred.status == "unfamiliar")
    return {source: float(np.mean(v)) for source, v in sorted(flags.items())}


def _figures(result: Any, seconds: float) -> dict[str, Any]:
    from imgclf.engine.phases import kept_epoch
    from imgclf.engine.run import Run

    m, run = result.metrics, Run(result.run_dir)
    correct = np.array([row["correct"] == "1" for row in run.predictions()], dtype=float)
    kept = kept_epoch(run.history(), run.meta.get("notes", [])) or {}
    low, high = bootstrap_interval(correct)
    sets = {f"{s['level']:.2f}": s for s in m.get("sets", [])}
    return {
        "evaluated_on": m["evaluated_on"],
        "n_test": m["test"]["n"],
        "accuracy": m["test"]["accuracy"],
        "accuracy_ci": [low, high],
        "val_accuracy": float(kept["val_accuracy"]) if kept else None,  # the kept epoch's, on the whole val split
        "phase2_kept": bool(kept) and int(kept["phase"]) == 2,
        "f1_macro": m["test"]["f1_macro"],
        "ece_after": m["calibration"]["ece_after"],
        "temperature": m["calibration"]["temperature"],
        "false_unfamiliar": m["ood"]["test_flagged_share"],
        "outside_flagged": m["ood"]["outside_flagged_share"],
        "ood_auroc": m["ood"]["auroc"],
        "n_outside": m["ood"]["n_outside"],
        "threshold_coverage": m["threshold"]["test_coverage"],
        "threshold_accuracy": m["threshold"]["test_accuracy"],
        "set_coverage_90": sets.get("0.90", {}).get("coverage"),
        "set_size_90": sets.get("0.90", {}).get("mean_size"),
        "train_seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_domain")
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipe", default="fast", choices=("fast", "classic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outside", type=Path, help="images from other domains (far-OOD)")
    parser.add_argument("--leave-out", metavar="CLASS", help="train without CLASS; its images are the outside set")
    args = parser.parse_args(argv)

    from imgclf.config import load_config
    from imgclf.engine.trainer import train
    from imgclf.evaluation import evaluate

    with tempfile.TemporaryDirectory(prefix="imgclf-domain-") as tmp:
        data, outside = args.data, args.outside
        if args.leave_out:
            data, outside = _without_class(args.data, args.leave_out, Path(tmp))
        cfg = load_config(overrides={"recipe": args.recipe, "seed": args.seed})
        start = time.perf_counter()
        run = train(data, cfg, args.out)
        seconds = time.perf_counter() - start
        result = evaluate(run, outside=outside, html=False)
        by_source = {} if args.leave_out else flagged_by_source(run, outside)
    figures = {**_figures(result, seconds), "outside_flagged_by_source": by_source}
    emit({"recipe": args.recipe, "seed": args.seed, "left_out": args.leave_out, **figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
