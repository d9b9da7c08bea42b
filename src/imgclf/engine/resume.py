"""Exact resume of an interrupted fit: Keras' ``BackupAndRestore`` plus the state it leaves out.

``BackupAndRestore`` keeps the model's weights, the optimizer (so a learning-rate schedule continues at the
right step) and the number of epochs done. :class:`ResumableFit` also keeps, after every epoch and next to that
backup, what a fit remembers elsewhere: early stopping's and ReduceLROnPlateau's counters and best weights, the
state of the random seeds (dropout) and the history rows. A fit resumed from it ends with the same weights as one
that was never interrupted (tests/test_train_guards.py proves it on a small run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from imgclf.errors import ImgclfError

__all__ = ["ResumableFit"]

# What each stateful callback remembers across epochs (besides EarlyStopping.best_weights).
_COUNTERS: dict[type, tuple[str, ...]] = {
    keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


def _plain(value: object) -> object:
    """A JSON-safe copy of a counter (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


class ResumableFit(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` in ``folder`` that also saves and restores the state of the ``watched`` callbacks,
    the model's random-seed states and the history ``rows``.

    Place it after the callbacks it watches (their epoch-end updates are then included) and before any callback
    that may interrupt training, such as a progress reporter.
    """

    def __init__(self, folder: Path, watched: Sequence[keras.callbacks.Callback], rows: list[dict]):
        super().__init__(str(folder), double_checkpoint=True)
        self.folder, self.watched, self.rows = Path(folder), list(watched), rows
        unknown = [type(cb).__name__ for cb in self.watched if type(cb) not in _COUNTERS]
        if unknown:
            raise TypeError(f"ResumableFit cannot keep the state of {unknown}")

    def _seed_states(self) -> list[keras.Variable]:
        """The variables Keras' weight files leave out: the seed-generator states of dropout and other layers."""
        weights = {id(w) for w in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Keras sets _initial_epoch when it restores a backup and never clears it: a later fit of the same model
        # (the classic recipe fits one model in both phases) would otherwise skip that many epochs.
        self.model._initial_epoch = None
        super().on_train_begin(logs)
        if self.model._initial_epoch:
            self._restore(int(self.model._initial_epoch))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._save(epoch + 1)  # first, so the backup Keras writes next never runs ahead of this state
        super().on_epoch_end(epoch, logs)

    def _paths(self, epochs_done: int) -> tuple[Path, Path]:
        return self.folder / f"state-{epochs_done}.json", self.folder / f"state-{epochs_done}.npz"

    def _save(self, epochs_done: int) -> None:
        """Write this epoch's state (atomically), keeping the one before for Keras' previous backup."""
        self.folder.mkdir(parents=True, exist_ok=True)
        counters = [{name: _plain(getattr(cb, name)) for name in _COUNTERS[type(cb)]} for cb in self.watched]
        arrays = {f"seed_{i}": np.asarray(v) for i, v in enumerate(self._seed_states())}
        for k, cb in enumerate(self.watched):
            best = getattr(cb, "best_weights", None) or ()
            arrays.update({f"best_{k}_{i}": np.asarray(w) for i, w in enumerate(best)})
        state_json, state_npz = self._paths(epochs_done)
        tmp_npz, tmp_json = state_npz.with_name(f".{state_npz.name}"), state_json.with_name(f".{state_json.name}")
        np.savez(tmp_npz, **arrays)
        os.replace(tmp_npz, state_npz)
        tmp_json.write_text(json.dumps({"counters": counters, "rows": self.rows}), encoding="utf-8")
        os.replace(tmp_json, state_json)
        keep = {*self._paths(epochs_done), *self._paths(epochs_done - 1)}
        for old in self.folder.glob("state-*"):
            if old not in keep:
                old.unlink(missing_ok=True)

    def _restore(self, epochs_done: int) -> None:
        """Put back the state saved after ``epochs_done`` epochs (the epoch Keras' backup restored)."""
        state_json, state_npz = self._paths(epochs_done)
        try:
            state = json.loads(state_json.read_text(encoding="utf-8"))
            with np.load(state_npz) as saved:
                arrays = dict(saved)
            seeds = [arrays[f"seed_{i}"] for i in range(len(self._seed_states()))]
        except (OSError, ValueError, KeyError) as exc:
            raise ImgclfError(
                f"The training checkpoint in '{self.folder}' is incomplete ({exc!r}); delete that folder to redo "
                "this phase from its start, then --resume again."
            ) from None
        for k, (cb, counters) in enumerate(zip(self.watched, state["counters"], strict=True)):
            for name, value in counters.items():
                setattr(cb, name, value)
            best = [arrays[f"best_{k}_{i}"] for i in range(len(arrays)) if f"best_{k}_{i}" in arrays]
            if best:
                cb.best_weights = best
        for variable, value in zip(self._seed_states(), seeds, strict=True):
            variable.assign(value)
        self.rows[:] = state["rows"]
