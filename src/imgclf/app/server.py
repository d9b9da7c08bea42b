"""Run the app headless in a subprocess (for the browser test and the screenshot script)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from imgclf.cli.commands.app import app_command
from imgclf.errors import ImgclfError

__all__ = ["free_port", "serve"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ImgclfError(f"The app exited with status {process.returncode} before serving {url}.")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise ImgclfError(f"The app did not answer at {url} within {timeout:.0f} s.")


@contextlib.contextmanager
def serve(
    runs: Path,
    *,
    data: Sequence[Path] = (),
    port: int | None = None,
    log: Path | None = None,
    timeout: float = 90.0,
    headless: bool = True,
) -> Iterator[str]:
    """Start ``imgclf app`` on 127.0.0.1 (stdin closed; data roots ``data``) and yield its URL; stop it on exit."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = app_command(runs, port=port, address="127.0.0.1", headless=headless, data=data)
    sink = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_healthy(url, process, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not None:
            sink.close()
