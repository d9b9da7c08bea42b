"""Run bundles: the folder a training run leaves, written atomically and checked on load.

``runs/<name>/``: ``model.keras``, ``labels.json``, ``config.yaml``, ``meta.json``, ``history.csv``,
``dataset_report.json``, ``splits.json``, ``features.npz`` (training embeddings), and after evaluation
``calibration.json`` and ``eval/``. A run is built in ``<name>.partial/`` and renamed when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import keras

from imgclf.errors import ImgclfError

__all__ = [
    "REQUIRED_FILES",
    "BundleError",
    "finalize_run",
    "load_model_file",
    "partial_dir",
    "read_json",
    "unique_run_dir",
    "validate_run",
    "write_json",
]

REQUIRED_FILES = ("model.keras", "labels.json", "config.yaml", "meta.json", "history.csv")


class BundleError(ImgclfError):
    """A run folder is missing, incomplete or damaged."""


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read a JSON file of a bundle, with a clear error when it is damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"'{path}' is unreadable or not valid JSON ({exc}); retrain or restore the run.") from exc


def partial_dir(run_dir: Path) -> Path:
    """Where a run is built before it is complete (and where ``--resume`` finds its checkpoints)."""
    return run_dir.with_name(run_dir.name + ".partial")


def unique_run_dir(run_dir: Path) -> Path:
    """``run_dir``, or ``run_dir-2``, ``-3``... when a finished run already has that name."""
    candidate, n = run_dir, 2
    while candidate.exists():
        candidate = run_dir.with_name(f"{run_dir.name}-{n}")
        n += 1
    return candidate


def finalize_run(partial: Path, run_dir: Path) -> Path:
    """Mark ``partial`` complete and rename it to ``run_dir``; checkpoints are removed."""
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    meta_path = partial / "meta.json"
    write_json(meta_path, {**read_json(meta_path), "complete": True})
    os.replace(partial, run_dir)
    return run_dir


def validate_run(run_dir: str | Path) -> Path:
    """Check that ``run_dir`` is a complete run; return it as a Path or raise :class:`BundleError`."""
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        hint = " It is still being written or was interrupted; use --resume." if partial_dir(run).exists() else ""
        raise BundleError(f"Run '{run}' does not exist.{hint} Pass a folder made by 'imgclf train'.")
    missing = [name for name in REQUIRED_FILES if not (run / name).is_file()]
    if missing:
        raise BundleError(f"Run '{run}' is incomplete: missing {', '.join(missing)}. Retrain it.")
    if not read_json(run / "meta.json").get("complete"):
        raise BundleError(f"Run '{run}' was never completed (meta.json says so). Retrain or --resume it.")
    return run


def load_model_file(path: Path) -> keras.Model:
    """Load a ``.keras`` file in safe mode (no arbitrary code), with a clear error when damaged."""
    import imgclf.models.layers  # noqa: F401  (registers the custom layers for deserialization)

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise BundleError(f"Model file '{path}' is damaged or not a Keras model ({exc}). Retrain the run.") from exc
