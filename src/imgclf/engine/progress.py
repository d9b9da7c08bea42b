"""Progress reporting shared by the CLI (tqdm bars), the app (a JSON-lines file) and custom callers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import keras

__all__ = ["JsonlProgress", "KerasProgress", "ProgressCallback", "ProgressEvent", "TqdmProgress"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One step of a run. ``stage``: check, features, phase1, phase2, note (a message), done or error."""

    stage: str
    step: int
    total: int
    message: str = ""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


class JsonlProgress:
    """Append each event as one JSON line to ``path`` (read by the app's Train page)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __call__(self, event: ProgressEvent) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(dataclasses.asdict(event)) + "\n")


class TqdmProgress:
    """Terminal progress bars with ETA, one per stage."""

    def __init__(self) -> None:
        self._bar = None
        self._stage = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if event.stage in ("note", "done", "error"):
            self.close()
            if event.message:
                tqdm.write(event.message)
            return
        if self._bar is None or event.stage != self._stage:
            self.close()
            self._stage = event.stage
            unit = {"features": "img", "phase1": "epoch", "phase2": "epoch"}.get(event.stage, "step")
            self._bar = tqdm(total=event.total or None, desc=event.stage, unit=unit, dynamic_ncols=True)
        if event.metrics:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in event.metrics.items()}, refresh=False)
        self._bar.update(max(0, event.step - self._bar.n))
        if event.total and event.step >= event.total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class KerasProgress(keras.callbacks.Callback):
    """Forward Keras epoch ends to a :data:`ProgressCallback` as ``stage`` events (epochs count from 1, and a
    resumed fit goes on counting from where it stopped)."""

    def __init__(self, callback: ProgressCallback, stage: str, total: int):
        super().__init__()
        self.callback, self.stage, self.total = callback, stage, total

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {
            k: float(v) for k, v in (logs or {}).items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")
        }
        self.callback(ProgressEvent(self.stage, epoch + 1, self.total, metrics=metrics))
