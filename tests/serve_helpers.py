"""Running ``imgclf serve`` for tests: in a thread of this process, or as the real command in a subprocess."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from imgclf.engine.predictor import Classifier
from imgclf.serve import ServeSettings
from imgclf.serve.server import bind, build_server
from imgclf.serve.service import Service

__all__ = ["Running", "running", "serve_process", "wait_ready"]

ROOT = Path(__file__).resolve().parents[1]


def wait_ready(url: str, timeout: float = 120.0) -> list[tuple[int, str]]:
    """Poll ``/readyz`` until it says ready or failed; every (status code, state) seen, in order."""
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        seen.append((response.status_code, response.json()["status"]))
        if seen[-1][1] in ("ready", "failed"):
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"{url} was not ready within {timeout} s; saw {seen[-3:]}")


class Running:
    """A server running in a thread: its base ``url`` and its :class:`Service`."""

    def __init__(self, url: str, service: Service):
        self.url = url
        self.service = service


@contextlib.contextmanager
def running(source: Classifier | str | Path, settings: ServeSettings) -> Iterator[Running]:
    """Serve ``source`` on a free 127.0.0.1 port in a thread (the same uvicorn setup as ``imgclf serve``).

    Unlike ``imgclf serve``, the server keeps running when the model fails to load, so tests can ask it why.
    """
    sock = bind("127.0.0.1", 0)
    server = build_server(source, settings)
    server.config.app.state.service.on_failure = None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_ready(url)
        yield Running(url, server.config.app.state.service)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextlib.contextmanager
def serve_process(args: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """``imgclf serve ARGS --port 0`` as a subprocess, with its base URL read from the banner it prints."""
    command = [sys.executable, "-m", "imgclf.cli.main", "serve", *args, "--port", "0"]
    environ = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    environ |= {"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline() if process.stdout else ""
        found = re.search(r"on (http://\S+) ", banner)
        if not found:
            process.kill()
            raise AssertionError(f"no URL in the banner {banner!r}; stderr: {process.communicate()[1][-2000:]}")
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
