"""Helpers for the app tests: open a page under AppTest, make images and zips, read what the page shows."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

__all__ = ["MAIN", "all_text", "badges", "open_page", "png", "uploader", "wait_for", "zip_bytes"]

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def png(colour: tuple[int, int, int], size: int = 48, fmt: str = "PNG", seed: int = 0) -> bytes:
    """A noisy image dominated by ``colour`` (the tiny run's classes are colours)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip holding ``entries`` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def open_page(runs: Path, page: str, *, roots: list[Path] | None = None, timeout: float = 180) -> AppTest:
    """The app on ``pages/<page>.py``, serving ``runs`` and reading datasets under ``roots``."""
    at = AppTest.from_file(str(MAIN), default_timeout=timeout)
    at.session_state["runs_dir"] = str(runs)
    if roots is not None:
        at.session_state["data_roots"] = [str(r) for r in roots]
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def uploader(at: AppTest, prefix: str = "uploads-"):
    """The image uploader (its key changes after each addition, so it starts empty)."""
    return next(u for u in at.file_uploader if str(u.key).startswith(prefix))


def badges(at: AppTest) -> list[str]:
    """The status badges shown (st.badge is Markdown like ``:orange-badge[:material/help: uncertain]``)."""
    return [m.value.rstrip("]").split()[-1] for m in at.markdown if "-badge[" in m.value]


def all_text(at: AppTest) -> str:
    """Every piece of text on the page (Markdown escapes removed), for 'is it said' and 'never said' checks."""
    parts = [t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [m.label for m in at.metric] + [s.value for s in at.subheader]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def wait_for(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 240.0) -> None:
    """Rerun ``at`` every half second until ``done(at)``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return
        time.sleep(0.5)
    pytest.fail("the page did not reach the expected state in time")
