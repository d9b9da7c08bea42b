"""Training from the browser: ``imgclf train`` in its own process, followed through its progress file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["TrainingJob", "TrainingRequest", "curves", "latest_by_stage", "safe_run_name", "start_training"]

STAGES = ("check", "features", "phase1", "phase2")


def safe_run_name(text: str) -> str:
    """A folder name from user text: letters, digits, '-', '_' and '.' only (never a path)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return name[:64] or "run"


@dataclasses.dataclass(frozen=True)
class TrainingRequest:
    """What the Train page asks for."""

    data: Path
    out: Path
    backbone: str
    recipe: str
    epochs: tuple[int, int]
    pretrained: bool = True

    def command(self, progress_file: Path) -> list[str]:
        """The ``imgclf train`` command line."""
        return [
            sys.executable, "-m", "imgclf.cli.main", "train", str(self.data), "--out", str(self.out),
            "--backbone", self.backbone, "--recipe", self.recipe,
            "--epochs", str(self.epochs[0]), str(self.epochs[1]),
            "--weights", "imagenet" if self.pretrained else "none",
            "--progress-file", str(progress_file),
        ]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """A running (or finished) training process and the files it writes."""

    request: TrainingRequest
    process: subprocess.Popen
    progress_file: Path
    stdout_file: Path
    stderr_file: Path

    def running(self) -> bool:
        """True until the process exits."""
        return self.process.poll() is None

    def events(self) -> list[dict]:
        """Every progress event so far (a partly written last line is ignored)."""
        try:
            lines = self.progress_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def run_dir(self) -> Path | None:
        """The finished run folder (the last line ``imgclf train`` prints), once it succeeded."""
        if self.process.poll() != 0:
            return None
        lines = [ln for ln in self.stdout_file.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
        return Path(lines[-1]) if lines and Path(lines[-1]).is_dir() else self.request.out

    def error_text(self) -> str:
        """Why the run failed: the last error event, else the end of its error output."""
        errors = [e.get("message", "") for e in self.events() if e.get("stage") == "error"]
        if errors and errors[-1]:
            return errors[-1]
        tail = self.stderr_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return "\n".join(tail) or f"exit status {self.process.returncode}"

    def cancel(self) -> None:
        """Stop the training process group (the unfinished ``.partial`` folder stays, for --resume)."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_training(request: TrainingRequest) -> TrainingJob:
    """Start ``imgclf train`` in a new session (the app stays responsive); progress goes to a JSONL file."""
    folder = Path(tempfile.mkdtemp(prefix="imgclf-train-"))
    progress, stdout, stderr = folder / "progress.jsonl", folder / "stdout.log", folder / "stderr.log"
    request.out.parent.mkdir(parents=True, exist_ok=True)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            request.command(progress), stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return TrainingJob(request, process, progress, stdout, stderr)


def latest_by_stage(events: list[dict]) -> dict[str, dict]:
    """The last event of each stage."""
    return {e["stage"]: e for e in events if "stage" in e}


def curves(events: list[dict]) -> pd.DataFrame:
    """Per-epoch metrics of both phases, numbered in a row (for live line charts)."""
    rows = [e.get("metrics") or {} for e in events if e.get("stage") in ("phase1", "phase2") and e.get("metrics")]
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame
