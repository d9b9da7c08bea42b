"""The benchmark driver behind ``make bench``: every measurement in its own process, one table, one report.

``python -m benchmarks.run [--quick] [--only time,inference,precision,export,memory,scale,serve,ray] [--data DIR]
[--output FILE] [--json FILE]``

Needs ``IMGCLF_WEIGHTS`` (the ResNet50 ImageNet weights) and the hymenoptera data (``--data``, else
``$IMGCLF_TEST_DATA/hymenoptera``). A full run (no ``--quick``, no ``--only``) rewrites its generated block in
``docs/BENCHMARKS.md`` (the rest of that file is kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import parse_result, split_of_run
from benchmarks.environment import describe_machine, versions
from benchmarks.report import build_tables, build_targets, merge_report, render_markdown, render_text

__all__ = ["FULL", "QUICK", "SECTIONS", "Plan", "failures", "main"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
SECTIONS = ("time", "inference", "precision", "export", "memory", "scale", "serve", "ray")
TIMEOUT_S = 3600


@dataclasses.dataclass(frozen=True)
class Plan:
    """How big each measurement is."""

    seeds: tuple[int, ...]  # default-recipe seeds, each with a cold cache
    per_class: int | None  # images per class and split folder (None = all)
    classic_overrides: dict[str, Any]  # settings added to the classic run (epochs, for --quick only)
    inference_images: int  # 0 = every train + val image
    latency_samples: int
    repeats: int  # throughput passes; the fastest counts
    app_images: int
    scale_sizes: tuple[int, int]
    serve_requests: int  # timed requests at each client count
    ray_sizes: tuple[int, int]  # images of the local-vs-Ray comparison, and of the long streaming run
    head_gib: tuple[float, float]  # sizes of the memory-mapped features the head trains on


FULL = Plan((1, 2, 3), None, {}, 0, 30, 2, 9, (1_000, 20_000), 96, (1_000, 100_000), (0.25, 2.0))
QUICK = Plan((1,), 6, {"phase1_epochs": 2, "phase2_epochs": 1}, 16, 4, 1, 3, (100, 400), 32, (100, 1_000), (0.05, 0.25))


class Runner:
    """Runs measurement scripts as child processes, with a fresh feature cache each unless told otherwise."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.count = 0

    def fresh_dir(self, kind: str) -> Path:
        """A new empty folder under the work folder."""
        self.count += 1
        path = self.workdir / f"{kind}-{self.count:02d}"
        path.mkdir(parents=True)
        return path

    def measure(self, label: str, module: str, args: list[str], cache: Path | None = None) -> dict[str, Any]:
        """Run ``benchmarks.<module>`` with ``args``; its result, or ``{"error": ...}`` when it failed."""
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "IMGCLF_CACHE_DIR": str(cache or self.fresh_dir("cache"))}
        command = [sys.executable, "-m", f"benchmarks.{module}", *args]
        _say(f"{label} ...")
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {TIMEOUT_S} s"}
        result = parse_result(done.stdout) if done.returncode == 0 else None
        if result is None:
            lines = (done.stderr or done.stdout or "no output").strip().splitlines()
            tail = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
            _say(f"{label}: FAILED (exit {done.returncode}): {tail}")
            return {"error": f"exit {done.returncode}: {tail}"}
        _say(f"{label}: done in {time.perf_counter() - start:.0f} s")
        return result

    def train(self, data: Path, recipe: str, seed: int, cache: Path, overrides: dict[str, Any]) -> dict[str, Any]:
        """One training run (``bench_train``) into a new run folder, with the feature cache ``cache``."""
        out = self.fresh_dir("runs") / f"{recipe}-seed{seed}"
        args = [str(data), str(out), "--recipe", recipe, "--seed", str(seed), "--overrides", json.dumps(overrides)]
        state = "warm" if any(cache.iterdir()) else "cold"
        return self.measure(f"train {recipe}, seed {seed}, {state} cache", "bench_train", args, cache)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _time_section(runner: Runner, plan: Plan, data: Path) -> dict[str, Any]:
    first_cache = runner.fresh_dir("cache")
    cold = [runner.train(data, "fast", plan.seeds[0], first_cache, {})]
    cold += [runner.train(data, "fast", seed, runner.fresh_dir("cache"), {}) for seed in plan.seeds[1:]]
    return {
        "default_cold": cold,
        "default_warm": runner.train(data, "fast", plan.seeds[0], first_cache, {}),
        "classic": runner.train(data, "classic", plan.seeds[0], runner.fresh_dir("cache"), plan.classic_overrides),
        "floor": runner.measure("floor: bare forward pass over train + val", "bench_floor", [str(data)]),
    }


def _run_dependent(runner: Runner, plan: Plan, run: str, only: set[str]) -> dict[str, Any]:
    """Inference, precision, export, the app and the service, on one trained run."""
    results: dict[str, Any] = {}
    common = ["--images", str(plan.inference_images), "--repeats", str(plan.repeats)]
    if "inference" in only:
        args = [run, *common, "--latency-samples", str(plan.latency_samples)]
        results["inference"] = runner.measure("inference", "bench_inference", args)
    if "precision" in only:
        results["precision"] = {
            policy: runner.measure(f"precision {policy}", "bench_precision", [run, "--policy", policy, *common])
            for policy in ("float32", "mixed_bfloat16", "mixed_float16")
        }
    if "export" in only:
        results["export"] = runner.measure("export: every format and runtime", "bench_export", [run, *common])
    if "memory" in only:
        uploads = [str(p) for p in split_of_run(Path(run), "val")[0][: plan.app_images]]
        results["app"] = runner.measure("app process (AppTest)", "bench_app", [run, *uploads])
    if "serve" in only:
        args = [run, *common, "--latency-samples", str(plan.latency_samples), "--requests", str(plan.serve_requests)]
        results["serve"] = runner.measure("serve: imgclf serve at 1, 8, 32 clients", "bench_serve", args)
    return results


def _run_sections(runner: Runner, plan: Plan, data: Path, only: set[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    dependent = only & {"inference", "precision", "export", "memory", "serve"}
    if "time" in only:
        results["time"] = _time_section(runner, plan, data)
    elif dependent:  # they need one trained run; its figures count as a cold default run
        results["time"] = {"default_cold": [runner.train(data, "fast", plan.seeds[0], runner.fresh_dir("cache"), {})]}
    ref = next((r for r in results.get("time", {}).get("default_cold", []) if "error" not in r), None)
    if ref is not None:
        results.update(_run_dependent(runner, plan, ref["run"], dependent))
    elif dependent:
        _say(f"no trained run: {', '.join(sorted(dependent))} not measured")
    if "scale" in only:
        small, large = plan.scale_sizes
        results["scale"] = {
            "small": runner.measure(f"scale: {small:,} images", "bench_scale", ["--images", str(small)]),
            "large": runner.measure(f"scale: {large:,} images", "bench_scale", ["--images", str(large)]),
        }
    if "ray" in only:
        results["ray"] = _ray_section(runner, plan)
    return results


def _ray_section(runner: Runner, plan: Plan) -> dict[str, Any]:
    """Local vs Ray engine (1 and 2 actors) on the same images, then a long streaming run of the Ray engine."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"skipped": "Ray is not installed (pip install 'imgclf[ray]')"}
    engines, stream = plan.ray_sizes
    head = {
        f"{gib:g} GiB": runner.measure(
            f"head on {gib:g} GiB of memory-mapped features", "bench_head", ["--gib", str(gib)]
        )
        for gib in plan.head_gib
    }
    return {
        "head": head,
        "engines": runner.measure(f"ray: local vs Ray, {engines:,} images", "bench_ray",
                                  ["--mode", "engines", "--images", str(engines)]),
        "stream": runner.measure(f"ray: streaming {stream:,} images", "bench_ray",
                                 ["--mode", "stream", "--images", str(stream)]),
    }  # fmt: skip


def failures(results: Any, where: str = "") -> list[str]:
    """Where in ``results`` a measurement failed (dicts holding an ``error``), as dotted paths."""
    if isinstance(results, dict):
        if "error" in results:
            return [where or "results"]
        return [f for k, v in results.items() for f in failures(v, f"{where}.{k}".strip("."))]
    if isinstance(results, list):
        return [f for i, v in enumerate(results) for f in failures(v, f"{where}[{i}]")]
    return []


def _subset(data: Path, per_class: int, dest: Path) -> Path:
    """The first ``per_class`` files of each ``split/class`` folder of ``data``, copied to ``dest``."""
    for split in sorted(p for p in data.iterdir() if p.is_dir()):
        for label in sorted(p for p in split.iterdir() if p.is_dir()):
            target = dest / split.name / label.name
            target.mkdir(parents=True)
            for file in sorted(f for f in label.iterdir() if f.is_file())[:per_class]:
                shutil.copy2(file, target / file.name)
    if not any(dest.glob("*/*/*")):
        raise SystemExit(f"--quick needs DATA laid out as split/class/image files; '{data}' is not.")
    return dest


def _data_dir(given: Path | None) -> Path:
    weights = os.environ.get("IMGCLF_WEIGHTS")
    if not weights or not Path(weights).expanduser().exists():
        raise SystemExit(
            f"IMGCLF_WEIGHTS={weights or '(unset)'} is not an existing file; the benchmarks need the ResNet50 ImageNet "
            "weights, e.g. IMGCLF_WEIGHTS=/path/resnet50_imagenet.weights.h5 make bench"
        )
    if given is None:
        root = os.environ.get("IMGCLF_TEST_DATA")
        if not root:
            raise SystemExit("IMGCLF_TEST_DATA is not set; point it at the folder holding hymenoptera/ or pass --data.")
        given = Path(root) / "hymenoptera" if (Path(root) / "hymenoptera").is_dir() else Path(root)
    if not (given / "train").is_dir():
        raise SystemExit(f"'{given}' has no train/ folder; pass --data pointing at the hymenoptera dataset.")
    return given.resolve()


def _notes(plan: Plan) -> list[str]:
    small, large = plan.scale_sizes
    return [
        "Every measurement runs in its own child process; peak RSS is that process's VmHWM.",
        f"Time to accuracy: the default recipe with seeds {', '.join(map(str, plan.seeds))}, each with a fresh "
        "(cold) feature cache, then seed "
        f"{plan.seeds[0]} again on its warm cache; `--recipe classic` once (cold). Wall time is the `train()` call "
        "(dataset check, model build, weights, training, saving). check, features (fast-recipe feature "
        "extraction), phase1 and phase2 (the two fits) are the trainer's own timings from the run's meta.json; "
        "other = the rest (model build and weights, input pipelines, saving). Val accuracy: the saved model "
        "on the val split.",
        "Floor: one forward pass of the default backbone (ImageNet weights) over the train + val images through "
        "imgclf's tf.data decoding pipeline, batch 32, after one warm-up batch.",
        "Inference: bare `model.predict` on pixels decoded beforehand (batch shapes traced beforehand); "
        "`imgclf predict RUN FOLDER --output CSV` timed on the N-image folder and on a 33-image one, steady "
        "throughput = (N - 33) / (t(N) - t(33)), so process start, model load and tracing are left out. "
        "Latencies are p50/p95 over single images after two warm-up calls.",
        "Precision: the trained float32 weights loaded into the same model rebuilt under the Keras dtype policy; "
        "images/s on decoded pixels (compiled forward, batch 32), accuracy on the val split. float16 needs a GPU.",
        "Export: `imgclf export` of the same run to each format (export time = conversion only; size = the "
        "model file or SavedModel folder; every export verified on the val split), then images/s of each runtime "
        "on the same decoded val pixels, batch 32, best of the passes after a warm-up batch; accuracy on the val "
        "split. Keras runs the compiled model; ONNX Runtime and LiteRT use every core.",
        "App: the app's own scripts run through Streamlit's AppTest in one process (no web server); classify = "
        "rerun after a new upload minus rerun of the same upload (cached), compared to the bare forward p50.",
        f"Scale: `train()` on {small:,} and on {large:,} generated 96x96 JPEGs (two classes, 90 % train) with "
        "the cheap `tinycnn` backbone at 64 px (random weights), no augmented views, one phase-1 epoch and no "
        "phase 2, to keep the suite short: the dataset check, content hashing, streaming tf.data input, on-disk "
        "cache and memory-mapped features run at full size, and peak RSS is the whole training process's. "
        "ResNet50 extraction speed is the features phase of the cold runs above.",
        "Serving: `imgclf serve RUN --runtime keras|onnx` in its own process (default settings: batches of up "
        "to 32, 2 ms wait budget), loaded by an asyncio httpx client in the benchmark process on the same "
        f"machine: 1, 8 and 32 concurrent clients, {plan.serve_requests} timed requests each (after one warm-up "
        "request per client), one val/train image file per multipart request, so decoding, HTTP and JSON are "
        "included. Bare: the same runtime's forward pass on pre-decoded pixels, batch 32 (throughput) and one "
        "image (latency); the onnx runtime is the run's model converted with its pooled-features output.",
        f"Ray: `imgclf predict --engine ray` as a library call on {plan.ray_sizes[0]:,} generated 32x32 JPEGs with "
        "a tinycnn run trained on 200 of them, against the local engine in-process on the same images (model "
        "loaded and traced beforehand); a local Ray on every core, started once (its start-up is shown), then "
        "one job with 1 actor and one with 2 (on 2 cores they reserve 0.5 CPU each, so one CPU stays free for "
        "reading). First rows = actor start (Python, TensorFlow, imgclf imports), model transfer and load. "
        f"Streaming: {plan.ray_sizes[1]:,} images, 1 actor, rows written to a CSV as they arrive; the driver's "
        "memory is sampled 20 times. The load average of the machine is shown: on a shared machine, other "
        "processes slow the actors' start most.",
        f"Head on memory-mapped features: one phase-1 epoch of the head (FeatureBatches, batch 256) on a "
        f"{plan.head_gib[0]:g} GiB and a {plan.head_gib[1]:g} GiB float16 `.npy` of synthetic 2048-dimension "
        "features; RssAnon is the memory the process holds itself (file pages of the map are evictable page "
        "cache), so equal RssAnon at both sizes means the features are streamed, not loaded.",
    ]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, tiny slices: a smoke test of the suite")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--data", type=Path, help="the hymenoptera dataset (default: $IMGCLF_TEST_DATA/hymenoptera)")
    parser.add_argument("--output", type=Path, help=f"markdown report (default for a full run: {DOC})")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    args = parser.parse_args(argv)
    args.sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.sections - set(SECTIONS)
    if unknown:
        parser.error(f"--only {args.only!r}: unknown {', '.join(sorted(unknown))}; use some of {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections, print the table, write the report; exit 1 when a measurement failed."""
    args = _parse(argv)
    plan = QUICK if args.quick else FULL
    data = _data_dir(args.data)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imgclf-bench-") as tmp:
        runner = Runner(Path(tmp))
        used = _subset(data, plan.per_class, runner.fresh_dir("data")) if plan.per_class else data
        results = _run_sections(runner, plan, used, args.sections)
    command = "make bench" if os.environ.get("MAKELEVEL") else " ".join(["python -m benchmarks.run", *sys.argv[1:]])
    meta = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "wall_minutes": (time.perf_counter() - started) / 60,
        "quick": args.quick,
        "data": f"`{data}`" + (f" ({plan.per_class} images per class and split)" if plan.per_class else ""),
        "machine": describe_machine(),
        "versions": versions(),
    }
    tables, targets = build_tables(results), build_targets(results)
    print(render_text(tables, targets))
    output = args.output or (DOC if not args.quick and args.sections == set(SECTIONS) else None)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        existing = output.read_text(encoding="utf-8") if output.is_file() else None
        block = render_markdown(meta, tables, targets, _notes(plan))
        output.write_text(merge_report(existing, block), encoding="utf-8")
        _say(f"wrote {output}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, **results}, indent=2), encoding="utf-8")
    failed = failures(results)
    _say(f"finished in {meta['wall_minutes']:.1f} minutes" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
