"""Export a run for other runtimes: SavedModel (TF Serving), ONNX, LiteRT; verified before it is published.

The export folder holds the model, ``labels.json``, ``calibration.json`` (temperature and threshold) and
``MODEL_CARD.md``. It is written to ``<out>.partial`` and renamed only once the exported model, run in its own
runtime on validation images, matches the Keras model; a failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from imgclf.deploy.card import CardFacts, model_card, usage_snippet
from imgclf.deploy.formats import ExportError, ExportFormat, get_format
from imgclf.deploy.verify import (
    MAX_ACCURACY_DROP,
    MAX_FLOAT_DIFF,
    Verification,
    compare,
    load_pixels,
    run_batched,
    sample,
)
from imgclf.engine.predictor import Classifier, load
from imgclf.engine.run import Run
from imgclf.evaluation.inputs import embed_pixels, labelled_split

__all__ = ["ExportResult", "default_out", "export_run"]

_CALIBRATION_IMAGES = 200  # training images an int8 export calibrates on
Say = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """A finished, verified export."""

    out: Path
    format: str
    quantize: str | None
    model_path: Path
    size_bytes: int
    export_seconds: float
    verification: Verification


def default_out(run_dir: str | Path, fmt: str, quantize: str | None = None) -> Path:
    """``exports/<run name>-<format>[-<quantize>]`` in the current folder."""
    return Path("exports") / "-".join(filter(None, (Path(run_dir).name, fmt, quantize)))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _split_pixels(run: Run, split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    return load_pixels(sample(labelled_split(run, split, run.classes), limit), run.input_size)


def _card_facts(
    run: Run, clf: Classifier, fmt: ExportFormat, quantize: str | None, verification: Verification
) -> CardFacts:
    """What the model card states: the run, its data and metrics, the export and its verification."""
    splits = run.splits()
    return CardFacts(
        run_name=run.path.name,
        backbone=clf.spec.name,
        input_size=clf.input_size,
        classes=clf.classes,
        fmt=fmt,
        quantize=quantize,
        temperature=clf.policy.temperature,
        threshold=clf.policy.threshold,
        dataset=run.meta.get("dataset"),
        split_counts={s: len(splits.get(s, [])) for s in ("train", "val", "test")},
        metrics=run.metrics,
        verification=verification,
    )


def _write_sidecars(folder: Path, clf: Classifier, facts: CardFacts) -> None:
    """``labels.json``, ``calibration.json``, ``MODEL_CARD.md`` and ``predict.py`` next to the model."""
    (folder / "labels.json").write_text(json.dumps({"classes": list(clf.classes)}, indent=2), encoding="utf-8")
    calibration = {
        "temperature": clf.policy.temperature,
        "threshold": clf.policy.threshold,
        "usage": "calibrated = softmax(log(probabilities) / temperature); a top calibrated probability below "
        "threshold means 'uncertain'. imgclf's out-of-distribution detector is not exported.",
    }
    (folder / "calibration.json").write_text(json.dumps(calibration, indent=2), encoding="utf-8")
    (folder / "MODEL_CARD.md").write_text(model_card(facts), encoding="utf-8")
    (folder / "predict.py").write_text(usage_snippet(facts.fmt.name, clf.input_size), encoding="utf-8")


def _convert_and_verify(
    run: Run, clf: Classifier, fmt: ExportFormat, partial: Path, quantize: str | None, samples: int, say: Say
) -> tuple[float, Verification]:
    """Write the model into ``partial`` and compare it with Keras on validation images; return the export time."""
    pixels, labels = _split_pixels(run, "val", samples)
    if not len(labels):
        raise ExportError(f"Run '{run.path}' has no readable validation image to verify the export on.")
    calibration = _split_pixels(run, "train", _CALIBRATION_IMAGES)[0] if quantize == "int8" else None
    say(f"Converting to {fmt.name}" + (f" ({quantize})" if quantize else "") + "...")
    started = time.perf_counter()
    try:
        fmt.write(clf.model, partial / fmt.model_path, quantize, calibration)
    except Exception as exc:  # a converter's own failure, reported as one clear line
        raise ExportError(f"Converting run '{run.path}' to {fmt.name} failed: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    say(f"Verifying in {fmt.runtime} on {len(labels)} validation images...")
    exported = run_batched(fmt.open(partial / fmt.model_path), pixels)
    return seconds, compare(embed_pixels(clf, pixels)[1], exported, labels)


def export_run(
    run_dir: str | Path,
    fmt: str,
    *,
    out: str | Path | None = None,
    quantize: str | None = None,
    samples: int = 200,
    max_diff: float = MAX_FLOAT_DIFF,
    max_accuracy_drop: float = MAX_ACCURACY_DROP,
    progress: Say | None = None,
) -> ExportResult:
    """Export the run at ``run_dir`` as ``fmt`` (savedmodel, onnx, tflite) into ``out``, verified.

    ``quantize`` is float16 or int8 (onnx, tflite; int8 calibrates on training images). The exported model
    is run in its own runtime on up to ``samples`` validation images: a float32 export whose probabilities
    differ from the Keras model's by more than ``max_diff``, or a quantized one whose accuracy drops by more
    than ``max_accuracy_drop``, raises :class:`ExportError` and leaves no folder.
    """
    say = progress or (lambda message: None)
    spec = get_format(fmt, quantize)
    spec.check_installed(quantize)
    run = Run.open(run_dir)
    clf = load(run, with_ood=False, fastest="float32")  # exports are float32: the format converts from there
    target = Path(out) if out is not None else default_out(run.path, fmt, quantize)
    if target.exists():
        raise ExportError(f"'{target}' already exists; remove it or pass another --out.")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        seconds, verification = _convert_and_verify(run, clf, spec, partial, quantize, samples, say)
        problem = verification.failure(
            quantized=quantize is not None, max_diff=max_diff, max_accuracy_drop=max_accuracy_drop
        )
        if problem:
            raise ExportError(f"The {fmt} export failed verification: {problem}. Nothing was written to '{target}'.")
        _write_sidecars(partial, clf, _card_facts(run, clf, spec, quantize, verification))
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    model_path = target / spec.model_path
    return ExportResult(target, fmt, quantize, model_path, _size(model_path), seconds, verification)
