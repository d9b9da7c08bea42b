"""Training from the browser: ``imgclf train`` in its own process, followed through its progress file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from imgclf.engine.run import partial_dir

__all__ = [
    "STAGES",
    "TrainingJob",
    "TrainingRequest",
    "curves",
    "delete_partial",
    "latest_by_stage",
    "safe_run_name",
    "start_training",
]

STAGES = ("check", "features", "phase1", "phase2")
USER_ERROR_STATUS = 2  # ``imgclf`` exits with 2 after printing an error meant for users (ImgclfError)
_DETAIL_LINES = 40
_PROGRESS_BAR = re.compile(r"^\s*(check|features|phase1|phase2):\s+\d+%|^\s*$")


def safe_run_name(text: str) -> str:
    """A folder name from user text: letters, digits, '-', '_' and '.' only (never a path)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return name[:64] or "run"


@dataclasses.dataclass(frozen=True)
class TrainingRequest:
    """What the Train page asks for (``resume`` continues the interrupted run at ``out``)."""

    data: Path
    out: Path
    backbone: str
    recipe: str
    epochs: tuple[int, int]
    pretrained: bool = True
    resume: bool = False

    def command(self, progress_file: Path) -> list[str]:
        """The ``imgclf train`` command line."""
        return [
            sys.executable, "-m", "imgclf.cli.main", "train", str(self.data), "--out", str(self.out),
            "--backbone", self.backbone, "--recipe", self.recipe,
            "--epochs", str(self.epochs[0]), str(self.epochs[1]),
            "--weights", "imagenet" if self.pretrained else "none",
            "--progress-file", str(progress_file),
        ] + (["--resume"] if self.resume else [])  # fmt: skip


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """A running (or finished) training process and the files it writes into its own temporary ``folder``."""

    request: TrainingRequest
    process: subprocess.Popen
    folder: Path

    def running(self) -> bool:
        """True until the process exits."""
        return self.process.poll() is None

    def events(self) -> list[dict]:
        """Every progress event so far (a partly written last line is ignored)."""
        events = []
        for line in _read(self.folder / "progress.jsonl").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    @property
    def cancelled(self) -> bool:
        """True when the user stopped the run (:meth:`cancel`)."""
        return (self.folder / "cancelled").exists()

    def run_dir(self) -> Path | None:
        """The finished run folder (the last line ``imgclf train`` prints), once it succeeded."""
        if self.process.poll() != 0:
            return None
        lines = [ln for ln in _read(self.folder / "stdout.log").splitlines() if ln]
        return Path(lines[-1]) if lines and Path(lines[-1]).is_dir() else self.request.out

    def partial_run(self) -> Path | None:
        """The unfinished run folder an interrupted run left behind (continued by a resume), if any."""
        partial = partial_dir(self.request.out)
        return partial if partial.is_dir() else None

    def error_output(self) -> str:
        """Everything the training process wrote to its error stream (progress bars, warnings, errors)."""
        return _read(self.folder / "stderr.log")

    def failure(self) -> tuple[str, str]:
        """Why the run failed: one sentence for the user, and the details (the end of its error output)."""
        lines = [ln for ln in self.error_output().splitlines() if not _PROGRESS_BAR.match(ln)]
        details = "\n".join(lines[-_DETAIL_LINES:])
        errors = [e.get("message", "") for e in self.events() if e.get("stage") == "error"]
        status = self.process.returncode
        if status == USER_ERROR_STATUS and errors and errors[-1]:
            return errors[-1], details
        if status is not None and status < 0:
            name = signal.Signals(-status).name
            return f"Training was stopped by the system ({name}), for example for lack of memory.", details
        return f"Training stopped unexpectedly (exit status {status}); the details below show where.", details

    def cancel(self) -> None:
        """Stop the training process group (the unfinished ``.partial`` folder stays, for a resume)."""
        if self.running():
            (self.folder / "cancelled").touch()
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_training(request: TrainingRequest) -> TrainingJob:
    """Start ``imgclf train`` in a new session (the app stays responsive); progress goes to a JSONL file."""
    folder = Path(tempfile.mkdtemp(prefix="imgclf-train-"))
    request.out.parent.mkdir(parents=True, exist_ok=True)
    with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            request.command(folder / "progress.jsonl"),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return TrainingJob(request, process, folder)


def delete_partial(out: Path) -> None:
    """Delete the unfinished run that training into ``out`` left behind."""
    shutil.rmtree(partial_dir(out), ignore_errors=True)


def latest_by_stage(events: list[dict]) -> dict[str, dict]:
    """The last event of each stage."""
    return {e["stage"]: e for e in events if "stage" in e}


def curves(events: list[dict]) -> pd.DataFrame:
    """Per-epoch metrics of both phases, numbered in a row (for live line charts)."""
    rows = [e.get("metrics") or {} for e in events if e.get("stage") in ("phase1", "phase2") and e.get("metrics")]
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame
