"""Serving speed: ``imgclf serve`` (its own process, real HTTP, one image file per request) under 1, 8 and 32
concurrent clients, against the bare forward pass on pre-decoded pixels (batch-32 throughput, single-image
latency), for the Keras and the ONNX Runtime forward.

``python -m benchmarks.bench_serve RUN [--images N] [--requests R] [--clients 1,8,32] [--runtimes keras,onnx]
[--latency-samples K] [--repeats R]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import best_time, decode_all, emit, percentiles, split_of_run

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
Forward = Callable[[np.ndarray], object]


def _ms(times: list[float]) -> dict[str, float]:
    return {k: v * 1000 for k, v in percentiles(times).items()}


def _bare(forward: Forward, pixels: np.ndarray, samples: int, repeats: int) -> dict[str, Any]:
    """Batch-32 throughput and single-image latency of ``forward`` on pre-decoded pixels."""
    for n in (32, 1, len(pixels) % 32 or 32):  # every batch shape, outside the timing
        forward(pixels[:n])
    seconds = best_time(lambda: [forward(pixels[i : i + 32]) for i in range(0, len(pixels), 32)], repeats)
    times = []
    for i in range(samples):
        start = time.perf_counter()
        forward(pixels[i % len(pixels)][None])
        times.append(time.perf_counter() - start)
    return {"images_per_s": len(pixels) / seconds, "single_ms": _ms(times)}


async def _load(url: str, uploads: list[tuple[str, bytes]], clients: int, requests: int) -> dict[str, Any]:
    """``clients`` concurrent clients sending ``requests`` one-image requests in all; throughput and latency."""
    import httpx

    times: list[float] = []
    per_client = max(1, requests // clients)

    async def client(http: httpx.AsyncClient, k: int, count: int, record: bool) -> None:
        for j in range(count):
            name, data = uploads[(k * per_client + j) % len(uploads)]
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/predict", files=[("files", (name, data, "image/jpeg"))])
            if response.status_code != 200 or response.json()["predictions"][0]["status"] == "error":
                raise RuntimeError(f"{name}: HTTP {response.status_code} {response.text[:200]}")
            if record:
                times.append(time.perf_counter() - start)

    # idle connections expire on the client before the server's 5 s keep-alive closes them (no reuse race)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http, k, 1, False) for k in range(clients)))  # connect and warm up
        start = time.perf_counter()
        await asyncio.gather(*(client(http, k, per_client, True) for k in range(clients)))
        wall = time.perf_counter() - start
    return {"requests": len(times), "images_per_s": len(times) / wall, "latency_ms": _ms(times)}


def _start(run: Path, runtime: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "imgclf.cli.main", "serve", str(run), "--port", "0", "--runtime", runtime]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("IMGCLF_API_KEY", None)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = re.search(r"on (http://\S+) ", process.stdout.readline() if process.stdout else "")
    if not found:
        process.kill()
        raise RuntimeError(f"imgclf serve printed no URL (exit {process.wait()})")
    return process, found.group(1)


def _wait_ready(url: str, timeout: float = 900) -> float:
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            state = httpx.get(f"{url}/readyz", timeout=5).json()["status"]
        except httpx.TransportError:
            state = "starting"
        if state == "failed":
            raise RuntimeError(f"imgclf serve failed to load: {httpx.get(f'{url}/readyz').json()['error']}")
        if state == "ready":
            return time.perf_counter() - start
        time.sleep(0.2)
    raise RuntimeError(f"imgclf serve was not ready after {timeout} s")


def _serve(run: Path, runtime: str, uploads: list[tuple[str, bytes]], clients: list[int], requests: int) -> dict:
    """Throughput and latency of ``imgclf serve --runtime RUNTIME`` at each client count, and its batching."""
    import httpx

    process, url = _start(run, runtime)
    try:
        result: dict[str, Any] = {"ready_s": _wait_ready(url)}
        for n in clients:
            before = httpx.get(f"{url}/v1/model", timeout=300).json()["batching"]
            result[str(n)] = asyncio.run(_load(url, uploads, n, max(requests, n)))
            after = httpx.get(f"{url}/v1/model", timeout=300).json()["batching"]
            batches = after["batches"] - before["batches"]
            result[str(n)]["mean_batch"] = (after["images"] - before["images"]) / max(batches, 1)
        process.send_signal(signal.SIGTERM)
        result["exit_code"] = process.wait(120)
        return result
    finally:
        if process.poll() is None:
            process.kill()


def main(argv: list[str] | None = None) -> int:
    """Measure and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--images", type=int, default=0, help="at most this many val + train images (0 = all)")
    parser.add_argument("--requests", type=int, default=96, help="timed requests per client count (default: 96)")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--runtimes", default="keras,onnx")
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import httpx

    import imgclf
    from imgclf.serve.runtime import onnx_forward

    clf = imgclf.load(args.run)
    paths = (split_of_run(args.run, "val")[0] + split_of_run(args.run, "train")[0])[: args.images or None]
    pixels = decode_all(paths, clf.input_size)
    uploads = [(p.name, p.read_bytes()) for p in paths]
    clients = [int(c) for c in args.clients.split(",")]
    result: dict[str, Any] = {"images": len(paths), "batch_size": 32, "clients": clients, "requests": args.requests}
    for runtime in args.runtimes.split(","):
        missing = [m for m in ("tf2onnx", "onnxruntime") if runtime == "onnx" and importlib.util.find_spec(m) is None]
        if missing:
            result[runtime] = {"skipped": f"{', '.join(missing)} not installed (pip install 'imgclf[export,serve]')"}
            continue
        start = time.perf_counter()
        forward = clf.forward if runtime == "keras" else onnx_forward(clf, None)
        bare = {"load_s": time.perf_counter() - start, **_bare(forward, pixels, args.latency_samples, args.repeats)}
        try:
            served = _serve(args.run, runtime, uploads, clients, args.requests)
        except (RuntimeError, httpx.HTTPError) as exc:  # keep the other runtime's figures
            served = {"error": f"{type(exc).__name__}: {exc}"}
        result[runtime] = {"bare": bare, "serve": served}
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
