"""Keep TensorFlow's own log lines off the terminal, so a user sees only imgclf's output.

TensorFlow 2.21 writes two kinds of lines to stderr. Its C++ logs at run time (CPU features, CUDA, XLA,
dataset ops) obey ``TF_CPP_MIN_LOG_LEVEL``, which :func:`quiet_environment` sets to 3 unless the user chose a
value. The lines printed while its libraries load (absl's "All log messages before absl::InitializeLog() is
called are written to STDERR" and, on CPUs where oneDNN is on, "oneDNN custom operations are on", twice) do
not, so :func:`import_tensorflow_quietly` points file descriptor 2 at a temporary file during
``import tensorflow`` only, drops TensorFlow's lines and passes on anything else. ``TF_ENABLE_ONEDNN_OPTS`` is
never changed: it changes numerics and speed, not just logging. ``imgclf --verbose`` skips all of this.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from typing import BinaryIO

__all__ = ["QUIET_ENV", "import_tensorflow_quietly", "is_tensorflow_log", "quiet_environment"]

# Environment defaults that hide TensorFlow's C++ logs below FATAL (a value the user set is kept).
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}

_TF_LOG_LINE = re.compile(
    r"[IWEF]\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] "  # absl: I0000 00:00:1796030745.23   26358 port.cc:153] ...
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "  # tsl: 2026-01-30 22:44:42.45: I tensorflow/...
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
)


def quiet_environment(env: MutableMapping[str, str]) -> None:
    """Add :data:`QUIET_ENV` to ``env`` (``os.environ``, or a child process's environment) where unset."""
    for name, value in QUIET_ENV.items():
        env.setdefault(name, value)


def is_tensorflow_log(line: str) -> bool:
    """True for a log record written by TensorFlow's C++ runtime or absl (not by Python code)."""
    return _TF_LOG_LINE.match(line) is not None


@contextlib.contextmanager
def _stderr_fd_to(sink: BinaryIO) -> Iterator[None]:
    """Send everything written to file descriptor 2 (C++ and Python alike) to ``sink`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its load-time lines; its Python loggers then report errors only.

    Lines that are not TensorFlow's are written back to stderr; if the import fails, everything is.
    """
    if "tensorflow" in sys.modules:
        return
    with tempfile.TemporaryFile() as captured:
        try:
            with _stderr_fd_to(captured):
                tensorflow = importlib.import_module("tensorflow")
        except BaseException:
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.write("".join(line for line in lines if not is_tensorflow_log(line)))
    tensorflow.get_logger().setLevel(logging.ERROR)
    importlib.import_module("absl.logging").set_verbosity("error")
