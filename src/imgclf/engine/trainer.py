"""The trainer: dataset check, phase 1 (frozen backbone, cached features), phase 2 (fine-tuning), bundle."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from imgclf.config import Config, default_config, load_config
from imgclf.data.check import DatasetReport, Issue, check_dataset
from imgclf.data.layout import DatasetError, Sample
from imgclf.data.report import UNUSABLE_KINDS, display_path
from imgclf.engine import phases, runlock
from imgclf.engine.progress import ProgressCallback, ProgressEvent
from imgclf.engine.run import Run, partial_dir, unique_run_dir
from imgclf.errors import ImgclfError
from imgclf.models.build import build_model, precision, rebuild, resolve_precision
from imgclf.models.registry import BackboneSpec, get_backbone, resolve_input_size

__all__ = ["Prepared", "TrainData", "prepare", "train"]

_SHOWN = 8  # issues and skipped files listed in the check summary before "... and N more"


@dataclasses.dataclass(frozen=True)
class TrainData:
    """The usable samples of each split, as paths and class indices."""

    classes: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]

    def xy(self, split: str) -> tuple[list[Path], np.ndarray]:
        """Paths and integer labels of ``split``."""
        samples = getattr(self, split)
        return [s.path for s in samples], np.array([self.classes.index(s.label) for s in samples], dtype=np.int64)


def _usable(report: DatasetReport) -> TrainData:
    report.raise_if_untrainable()
    layout = report.layout
    bad = report.bad_files
    by_split = {name: tuple(s for s in layout.split(name) if s.path not in bad) for name in ("train", "val", "test")}
    if not by_split["val"]:
        raise ImgclfError(f"Dataset '{layout.root}' has no usable validation images; add a val/ folder or more images.")
    return TrainData(layout.classes, by_split["train"], by_split["val"], by_split["test"])


def _blocking(report: DatasetReport) -> list[Issue]:
    """Errors that skipping files does not fix (leakage...): training stops on them unless the check is ignored."""
    return [issue for issue in report.errors if issue.kind not in UNUSABLE_KINDS]


def _more(shown: Sequence[str], total: int, separator: str) -> str:
    return separator.join(shown) + (f"{separator}... and {total - len(shown)} more" if total > len(shown) else "")


def _refuse_unsafe(report: DatasetReport, data: str | Path) -> None:
    """Raise :class:`DatasetError` naming the blocking errors, and how to train anyway."""
    blocking = _blocking(report)
    if not blocking:
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(i.kind for i in blocking).items())
    listed = _more([i.message for i in blocking[:3]], len(blocking), " ")
    raise DatasetError(
        f"Dataset '{data}' is not safe to train: {len(blocking)} error(s) ({kinds}). {listed} Fix them "
        f"(`imgclf check {data}` lists every issue), or pass --ignore-check to train anyway."
    )


def _skipped(report: DatasetReport) -> list[str]:
    """The unusable files training skips, relative to the dataset, with what is wrong with each."""
    kinds = {path: i.kind for i in report.issues if i.kind in UNUSABLE_KINDS for path in i.paths}
    return sorted(f"{display_path(path, report.root)} ({kind})" for path, kind in kinds.items())


def _check_summary(report: DatasetReport, data: str | Path, ignore_check: bool) -> str:
    """What the dataset check found, for the terminal: counts of issues, the issues, the skipped files."""
    if not report.issues:
        return "Dataset check: no issues."
    warnings = len(report.issues) - len(report.errors)
    lines = [f"Dataset check: {len(report.errors)} error(s), {warnings} warning(s) (`imgclf check {data}` for all)."]
    listed = [i for i in report.issues if i.kind not in UNUSABLE_KINDS]
    lines += [f"  {i.severity.upper():<7} {i.kind}: {i.message}" for i in listed[:_SHOWN]]
    if len(listed) > _SHOWN:
        lines.append(f"  ... and {len(listed) - _SHOWN} more")
    skipped = _skipped(report)
    if skipped:
        lines.append(f"Skipped {len(skipped)} unusable file(s): {_more(skipped[:_SHOWN], len(skipped), ', ')}.")
    if ignore_check and _blocking(report):
        lines.append("Training anyway (--ignore-check, recorded in the run): its scores may be misleading.")
    return "\n".join(lines)


def _prepare(run: Run, cfg: Config, report: DatasetReport, data: TrainData, extra: dict) -> None:
    splits = {  # absolute, so evaluation finds the images from any working directory
        name: [(os.path.abspath(s.path), s.label) for s in getattr(data, name)] for name in ("train", "val", "test")
    }
    run.prepare(config=cfg.to_dict(), meta=extra, classes=data.classes, dataset_report=report.to_dict(), splits=splits)


def _versions() -> dict[str, str]:
    import PIL
    import sklearn

    from imgclf import __version__

    return {
        "imgclf": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "sklearn": sklearn.__version__,
    }


def _kept_epoch(history: list[dict], notes: list[str]) -> str:
    """Which epoch's weights the model holds (early stopping keeps the lowest validation loss) and its accuracy."""
    best = phases.kept_epoch(history, notes)
    if best is None:
        return "no epochs trained"
    return f"val accuracy {float(best['val_accuracy']):.3f}, phase {best['phase']} epoch {best['epoch']}"


def _open_run(out: Path, resume: bool) -> tuple[Path, Run]:
    """The final run folder and its locked ``.partial`` working copy (new, or the one ``resume`` continues)."""
    if resume:
        partial = partial_dir(out)
        if not partial.is_dir():
            raise ImgclfError(f"Nothing to resume: '{partial}' does not exist. Start a new run without --resume.")
        runlock.acquire(partial)
        return out, Run(partial)
    run_dir = unique_run_dir(out)
    runlock.create_locked(partial_dir(run_dir))
    return run_dir, Run(partial_dir(run_dir))


def _build(
    cfg: Config, spec: BackboneSpec, size: int, policy: str, num_classes: int
) -> tuple[keras.Model, keras.Model, keras.Model, str]:
    """A seeded new classifier (with its backbone and head) built under ``policy``, and its weights' id."""
    keras.utils.set_random_seed(cfg.seed)
    with precision(policy):
        model, backbone, head, weights_id = build_model(
            spec,
            weights=cfg.weights,
            input_size=size,
            num_classes=num_classes,
            head_units=cfg.head_units,
            dropout=cfg.dropout,
        )
    if weights_id == "none":  # random init is decided by the seed: features are only reusable with it
        weights_id = f"random-init-seed{cfg.seed}"
    return model, backbone, head, weights_id


def _save_bundle(
    model: keras.Model, ctx: phases.PhaseContext, history: Sequence[dict], meta: dict, run_dir: Path
) -> None:
    """Write the model (float32), history and meta into the partial folder, then publish it as ``run_dir``."""
    cfg, partial = ctx.cfg, ctx.partial
    if ctx.precision != "float32":  # mixed precision is a training speed-up, not a property of the model
        model = rebuild(model, ctx.spec, policy="float32", head_units=cfg.head_units, dropout=cfg.dropout)
    partial.save_model(model)
    partial.write_history(history)
    partial.write_meta(meta)
    if run_dir.exists():
        raise ImgclfError(
            f"'{run_dir}' appeared while training; nothing was overwritten. The finished model stays in "
            f"'{partial.path}': rename that folder, or train again with a new --out."
        )
    runlock.release(partial.finalize(run_dir).path)


def train(
    data: str | Path,
    cfg: Config | None = None,
    out: str | Path = "runs/train",
    *,
    progress: ProgressCallback | None = None,
    resume: bool = False,
    ignore_check: bool = False,
) -> Path:
    """Train a classifier on the dataset at ``data`` and return the finished run folder.

    The dataset check comes first and its summary is reported as a ``note`` event. Unusable files are skipped
    (and listed in the run); errors that skipping cannot fix, such as leakage across splits, refuse the
    dataset unless ``ignore_check`` (recorded in the run's meta). An untrainable dataset is refused before any
    model is built. Review corrections of the dataset apply (a read-only dataset's are looked up in the folder
    holding ``out``). The run is written to ``<out>.partial`` and renamed to ``out`` when complete.
    """
    cfg = cfg or default_config()
    notify = progress or (lambda event: None)
    run_dir, partial = _open_run(Path(out), resume)
    try:
        return _train(data, cfg, partial, run_dir, notify, resume=resume, ignore_check=ignore_check)
    except BaseException:
        if not partial.prepared:  # refused before anything was written: leave no folder behind
            shutil.rmtree(partial.path, ignore_errors=True)
        raise
    finally:
        runlock.release(partial.path)


def _checked(
    data: str | Path, cfg: Config, notify: ProgressCallback, ignore_check: bool, runs: Path | None
) -> tuple[DatasetReport, TrainData]:
    """Check the dataset, report what was found, and refuse it when unsafe (unless ``ignore_check``).

    The dataset's review corrections apply; ``runs`` is where a read-only dataset's are kept.
    """
    notify(ProgressEvent("check", 0, 1, f"checking {data}"))
    report = check_dataset(
        data, split=cfg.split, seed=cfg.seed, min_side=cfg.min_side, max_pixels=cfg.max_pixels, runs=runs
    )
    notify(ProgressEvent("note", 0, 0, _check_summary(report, data, ignore_check)))
    samples = _usable(report)
    if not ignore_check:
        _refuse_unsafe(report, data)
    notify(ProgressEvent("check", 1, 1, f"{len(samples.train)} train / {len(samples.val)} val images"))
    return report, samples


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A checked dataset and a new seeded classifier for it: what training and feature extraction start from."""

    report: DatasetReport
    data: TrainData
    spec: BackboneSpec
    size: int
    policy: str
    model: keras.Model
    backbone: keras.Model
    head: keras.Model
    weights_id: str
    check_seconds: float

    def context(self, cfg: Config, partial: Run, notify: ProgressCallback) -> phases.PhaseContext:
        """The phases' context for a run being written in ``partial``."""
        return phases.PhaseContext(cfg, self.spec, self.size, self.policy, self.weights_id, self.data, partial, notify)


def prepare(
    data: str | Path, cfg: Config, notify: ProgressCallback, *, ignore_check: bool = False, runs: Path | None = None
) -> Prepared:
    """Check the dataset (refusing an unsafe one unless ``ignore_check``) and build the seeded classifier.

    ``runs`` is where a read-only dataset's review corrections are kept (the folder of the run's ``--out``).
    """
    spec = get_backbone(cfg.backbone)
    size = resolve_input_size(cfg, spec)
    started = time.perf_counter()
    report, samples = _checked(data, cfg, notify, ignore_check, runs)
    check_seconds = time.perf_counter() - started
    policy = resolve_precision(cfg.mixed_precision)
    model, backbone, head, weights_id = _build(cfg, spec, size, policy, len(samples.classes))
    return Prepared(report, samples, spec, size, policy, model, backbone, head, weights_id, check_seconds)


def _train(
    data: str | Path,
    cfg: Config,
    partial: Run,
    run_dir: Path,
    notify: ProgressCallback,
    *,
    resume: bool,
    ignore_check: bool,
) -> Path:
    """The body of :func:`train`, run while ``partial`` is locked."""
    if resume:  # the interrupted run's settings, and its decision to train despite the check
        cfg = load_config(overrides=partial.config)
        ignore_check = ignore_check or bool(partial.meta.get("ignore_check"))
    prep = prepare(data, cfg, notify, ignore_check=ignore_check, runs=run_dir.parent)
    report, samples, model, backbone, head = prep.report, prep.data, prep.model, prep.backbone, prep.head
    extra = {
        "backbone": prep.spec.name,
        "input_size": prep.size,
        "weights": cfg.weights,
        "weights_id": prep.weights_id,
        "precision": prep.policy,
        "dataset": str(Path(data).resolve()),
        "classes": list(samples.classes),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "config": cfg.to_dict(),
        "ignore_check": ignore_check,
        "skipped_files": _skipped(report),
    }
    if not resume:
        _prepare(partial, cfg, report, samples, extra)
    ctx = prep.context(cfg, partial, notify)
    started = time.perf_counter()
    history, cached = phases.run_phase1(model, backbone, head, ctx)
    history += phases.run_phase2(model, backbone, cached, ctx)
    phases.save_embeddings(model, backbone, cached, ctx)
    check_seconds = prep.check_seconds
    timings = {**ctx.timings, "total": time.perf_counter() - started + check_seconds, "check": check_seconds}
    _save_bundle(model, ctx, history, {**extra, "complete": False, "timings": timings, "notes": ctx.notes}, run_dir)
    notify(ProgressEvent("done", 1, 1, f"Run saved to {run_dir} ({_kept_epoch(history, ctx.notes)})"))
    return run_dir
