"""The review tests' case: a colour dataset with one red image filed under blue, and an evaluated tinycnn run on it.

Trained once per session (the ``review_template`` fixture); :meth:`ReviewCase.fresh` puts the dataset and the runs
folder back as they were after that training, at the same paths, so each test starts from an untouched case.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from conftest import COLOURS, make_dataset, write_image

__all__ = ["CONFIG", "MISLABELLED", "ReviewCase", "reviewable"]

CONFIG = {  # the least training that learns the colours: the head alone, on clean cached features
    "backbone": "tinycnn",
    "weights": "none",
    "phase1_epochs": 10,
    "phase2_epochs": 0,
    "cache_views": 0,
    "feature_views": 0,
    "batch_size": 16,
    "phase1_lr": 0.01,
    "patience": 10,
}
MISLABELLED = "train/blue/oops.png"  # a red image, relative to the dataset


@dataclasses.dataclass(frozen=True)
class ReviewCase:
    """``root/data`` (the dataset), ``root/runs/first`` (the evaluated run) and their pristine copy."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "runs" / "first"

    @property
    def _pristine(self) -> Path:
        return self.root / "pristine"

    def snapshot(self) -> None:
        """Keep a copy of the dataset and the runs folder as they are now."""
        for name in ("data", "runs"):
            shutil.copytree(self.root / name, self._pristine / name, symlinks=True)

    def fresh(self) -> tuple[Path, Path]:
        """The dataset and the run, put back as :meth:`snapshot` saw them (whatever an earlier test changed)."""
        for name in ("data", "runs"):
            target = self.root / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(self._pristine / name, target, symlinks=True)
        return self.data, self.run


def reviewable(root: Path) -> ReviewCase:
    """Make the dataset under ``root``, train and evaluate ``runs/first`` on it (:data:`CONFIG`), keep a copy."""
    from imgclf.config import load_config
    from imgclf.engine.trainer import train
    from imgclf.evaluation import evaluate

    case = ReviewCase(root)
    make_dataset(case.data, counts={"train": 12, "val": 6, "test": 6})
    write_image(case.data / MISLABELLED, COLOURS["red"], np.random.default_rng(7))
    evaluate(train(case.data, load_config(overrides=CONFIG), case.run), html=False)
    case.snapshot()
    return case
