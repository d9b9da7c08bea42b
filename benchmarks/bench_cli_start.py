"""Start time of the light ``imgclf`` commands: ``--help``, ``backbones``, and ``check`` on a small dataset.

``python -m benchmarks.bench_cli_start [--repeats N] [--src DIR]``

Each command runs ``N`` times as a fresh ``python -m imgclf.cli.main`` process; the table gives the median and
the fastest wall time, the median CPU time (user + system: what other processes on a busy machine do not
inflate), and whether the process imported TensorFlow (one more run under ``-X importtime``).
``check`` reads 20 generated 64 px JPEGs, so its time is nearly all start-up. ``--src`` puts another
checkout's ``src`` first on the path (e.g. ``--src ../main/src`` for the figures before a change). Needs no
weights and no data.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import emit

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        for label in ("ants", "bees"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).resize((64, 64)).save(folder / f"{i}.jpg")
    return root


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stderr of one ``imgclf ARGS`` process."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "imgclf.cli.main", *args]
    cpu, start = _cpu_of_children(), time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, _cpu_of_children() - cpu, done.stderr


def _loads_tensorflow(importtime_log: str) -> bool:
    return any(line.split("|")[-1].strip() == "tensorflow" for line in importtime_log.splitlines())


def main(argv: list[str] | None = None) -> int:
    """Time each command, print a markdown table and the result line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cli_start", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default: 5)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the imgclf sources to time (default: ./src)")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(args.src.resolve()), os.environ.get("PYTHONPATH", "")])}
    results = {}
    with tempfile.TemporaryDirectory(prefix="imgclf-cli-") as tmp:
        data = _dataset(Path(tmp) / "data")
        commands = {
            "imgclf --help": ["--help"],
            "imgclf backbones": ["backbones"],
            "imgclf check DATA": ["check", str(data)],
        }
        for name, command in commands.items():
            runs = [_run(command, env) for _ in range(max(1, args.repeats))]
            times, cpu = [r[0] for r in runs], [r[1] for r in runs]
            results[name] = {
                "median_s": statistics.median(times),
                "min_s": min(times),
                "cpu_s": statistics.median(cpu),
                "imports_tensorflow": _loads_tensorflow(_run(command, env, importtime=True)[2]),
            }
    print("| command | median (s) | fastest (s) | CPU (s) | imports TensorFlow |\n|---|---:|---:|---:|---|")
    for name, row in results.items():
        loads = "yes" if row["imports_tensorflow"] else "no"
        print(f"| `{name}` | {row['median_s']:.2f} | {row['min_s']:.2f} | {row['cpu_s']:.2f} | {loads} |")
    emit({"src": str(args.src), "repeats": args.repeats, "commands": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
