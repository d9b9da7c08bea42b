"""Ray engine: local vs Ray prediction on the same images, 1 vs 2 actors, and a long streaming run.

``--mode engines``: N generated JPEGs predicted by the local engine (in-process, model loaded beforehand) and
by the Ray engine with 1 and 2 actors on a local Ray of this machine's cores: images/s, Ray start-up, and the
time to the first rows (actor start, model transfer and load). ``--mode stream``: N small generated images
through the Ray engine into a CSV, sampling the driver's memory as rows arrive, to show steady memory and
throughput. The model is a tinycnn run trained on a few of the images (``--run`` uses another run instead).

``python -m benchmarks.bench_ray --mode engines|stream --images N [--side 32] [--run RUN]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_scale import generate_dataset
from benchmarks.common import emit, peak_rss_mib, rss_mib

__all__ = ["main"]


def _tiny_run(root: Path, side: int) -> Path:
    """A tinycnn run at ``side`` px trained for one epoch on 200 generated images."""
    from imgclf.config import load_config
    from imgclf.engine.trainer import train

    data = generate_dataset(root / "train-data", 200, side=side, seed=1)
    settings = {"backbone": "tinycnn", "weights": "none", "input_size": side, "cache_views": 0}
    cfg = load_config(overrides={**settings, "phase1_epochs": 1, "phase2_epochs": 0})
    return train(data, cfg, root / "run")


class _Timer:
    """Rows written, when the first and the last arrived, and the driver's memory every ``every`` rows."""

    def __init__(self, every: int):
        self.start = self.last = time.perf_counter()
        self.rows, self.first_rows, self.first, self.every = 0, 0, 0.0, every
        self.memory: list[tuple[int, float]] = []

    def __call__(self, rows: list) -> None:
        self.last = time.perf_counter()
        if not self.rows:
            self.first, self.first_rows = self.last - self.start, len(rows)
        before, self.rows = self.rows, self.rows + len(rows)
        if before // self.every != self.rows // self.every:
            self.memory.append((self.rows, round(rss_mib(), 1)))

    def summary(self) -> dict:
        """Totals, and the steady rate: the rows after the first batch over the time they took."""
        seconds, later = self.last - self.start, self.last - self.start - self.first
        steady = (self.rows - self.first_rows) / later if later > 0 else None
        return {"rows": self.rows, "seconds": seconds, "first_rows_s": self.first,
                "images_per_s": self.rows / seconds, "steady_images_per_s": steady}  # fmt: skip


def _ray_job(run: Path, paths: list[str], actors: int, batch: int, sink=None) -> dict:
    from imgclf.scale.cluster import RayOptions
    from imgclf.scale.predict import predict_on_ray
    from imgclf.scale.rows import PredictOptions

    timer = _Timer(max(1, len(paths) // 20))

    def write(rows: list) -> None:
        if sink is not None:
            sink.write(rows)
        timer(rows)

    options = RayOptions(actors=(actors, actors), batch_size=batch)
    predict_on_ray(run, paths, PredictOptions(batch_size=batch), options, write)
    return {**timer.summary(), "actors": actors, "driver_rss_mib": timer.memory}


def _engines(run: Path, paths: list[str], batch: int) -> dict:
    import ray

    from imgclf.engine.predictor import load
    from imgclf.scale.predict import predict_local
    from imgclf.scale.rows import PredictOptions

    clf = load(run)
    predict_local(clf, paths[:batch], PredictOptions(batch_size=batch), lambda rows: None)  # trace the model
    timer = _Timer(len(paths))
    predict_local(clf, paths, PredictOptions(batch_size=batch), timer)
    local = timer.summary()
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - started
    try:
        one, two = (_ray_job(run, paths, actors, batch) for actors in (1, 2))
    finally:
        ray.shutdown()
    return {"local": local, "ray_init_s": startup, "ray_1_actor": one, "ray_2_actors": two}


def _stream(run: Path, paths: list[str], batch: int, out: Path) -> dict:
    import ray

    from imgclf.scale.rows import open_sink

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    sink = open_sink(out, resume=False)
    try:
        result = _ray_job(run, paths, 1, batch, sink)
    finally:
        sink.close()
        ray.shutdown()
    return {**result, "csv_bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    """Generate the images, run the chosen measurement and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["engines", "stream"], required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--side", type=int, default=32, help="side of the generated images and the tiny run's input")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--run", type=Path, help="predict with this run instead of a tinycnn one trained here")
    args = parser.parse_args(argv)

    from imgclf.scale.sources import resolve_sources

    load_before = os.getloadavg()[0]  # other processes on the machine slow the Ray actors' start-up too
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-ray-") as tmp:
        started = time.perf_counter()
        paths = resolve_sources([generate_dataset(Path(tmp) / "images", args.images, side=args.side)])
        generate_s = time.perf_counter() - started
        run = args.run or _tiny_run(Path(tmp), args.side)
        if args.mode == "engines":
            result = _engines(run, paths, args.batch_size)
        else:
            result = _stream(run, paths, args.batch_size, Path(tmp) / "preds.csv")
    emit({"mode": args.mode, "images": len(paths), "side": args.side, "run": str(args.run or "tinycnn"),
          "generate_s": generate_s, "peak_rss_mib": peak_rss_mib(), "load_avg": [load_before, os.getloadavg()[0]],
          **result})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
