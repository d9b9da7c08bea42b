"""`imgclf app` as a process: it starts without prompting, refuses a bad --data, and stops on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from imgclf.app.server import free_port, serve
from imgclf.cli.main import main


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_app_opened_from_a_terminal_starts_without_prompting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A first `imgclf app` or `imgclf demo` (not headless, no ~/.streamlit) serves without an email prompt."""
    monkeypatch.setenv("HOME", str(tmp_path))  # a machine where Streamlit has never run
    monkeypatch.setenv("BROWSER", "true")  # opening the browser does nothing
    with serve(tmp_path / "runs", headless=False, log=tmp_path / "app.log") as url:
        assert url.startswith("http://127.0.0.1:")
    assert "Email" not in (tmp_path / "app.log").read_text()


def test_sigterm_stops_the_server_it_started(tmp_path: Path) -> None:
    """Issue 14: stopping `imgclf app` with SIGTERM left its Streamlit child serving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "imgclf.cli.main", "app", "--runs", str(tmp_path / "runs"), "--port", str(port)]
    with (tmp_path / "app.log").open("wb") as log:
        app = subprocess.Popen(
            [*command, "--headless", "--data", str(tmp_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not _serving(url):
            assert app.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.5)
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
        time.sleep(1.0)
        assert not _serving(url), "nothing serves the app after SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGKILL)  # whatever is left of the group, so a failure leaks nothing


def test_app_refuses_a_data_root_that_is_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "imgclf app: error: --data" in err and "missing" in err and "Traceback" not in err
