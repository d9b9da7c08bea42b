"""The run folder and its one owner, :class:`Run`: every file of a run is read and written here alone.

``runs/<name>/``: ``model.keras``, ``labels.json``, ``config.yaml``, ``meta.json``, ``history.csv``,
``dataset_report.json``, ``splits.json``, ``features.npz`` (training embeddings), and after evaluation
``calibration.json`` (with the reduced-precision parity check, :attr:`Run.parity`) and ``eval/``
(``metrics.json``, ``predictions.csv``, ``plots/``, ``report.html``).
A run is built in ``<name>.partial/`` under a lock (:mod:`imgclf.engine.runlock`) and renamed when complete.
Readers validate what they read (shapes, the class count against the model) and raise one clear
:class:`BundleError` per problem, naming the file and what to do.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from imgclf.engine.precision_check import ParityCheck
from imgclf.errors import ImgclfError

if TYPE_CHECKING:
    import keras

__all__ = ["HISTORY_FIELDS", "PREDICTION_FIELDS", "BundleError", "Run", "partial_dir", "scan_runs", "unique_run_dir"]

_MODEL, _LABELS, _CONFIG, _META, _HISTORY = "model.keras", "labels.json", "config.yaml", "meta.json", "history.csv"
_DATASET_REPORT, _SPLITS, _FEATURES = "dataset_report.json", "splits.json", "features.npz"
_CALIBRATION, _PARITY = "calibration.json", "inference_precision"
_EVAL, _METRICS, _PREDICTIONS, _PLOTS, _REPORT = "eval", "metrics.json", "predictions.csv", "plots", "report.html"
_CHECKPOINTS = "checkpoints"
_REQUIRED = (_MODEL, _LABELS, _CONFIG, _META, _HISTORY)
HISTORY_FIELDS = ("phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
PREDICTION_FIELDS = ("path", "true", "predicted", "confidence", "correct", "status", "ood_score")


class BundleError(ImgclfError):
    """A run folder is missing, incomplete or damaged."""


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


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file, then rename), so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _dense_units(config: Any) -> int | None:
    """The units of the layer named ``predictions`` in a saved Keras model config, searched recursively."""
    if isinstance(config, Mapping):
        inner = config.get("config")
        if config.get("class_name") == "Dense" and isinstance(inner, Mapping) and inner.get("name") == "predictions":
            return int(inner["units"])
        found = (_dense_units(v) for v in config.values())
    elif isinstance(config, list):
        found = (_dense_units(v) for v in config)
    else:
        return None
    return next((units for units in found if units is not None), None)


class Run:
    """A run folder. ``Run(path)`` is a handle; :meth:`open` returns a validated, complete run.

    Accessors read lazily and validate; writers write atomically. Nothing else in imgclf knows the file names.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """The complete run at ``path``, checked (files present, shapes, class count), or :class:`BundleError`."""
        run = cls(path)
        if not run.path.is_dir():
            partial = partial_dir(run.path).exists()
            hint = " It is still being written or was interrupted; use --resume." if partial else ""
            raise BundleError(f"Run '{run.path}' does not exist.{hint} Pass a folder made by 'imgclf train'.")
        missing = [name for name in _REQUIRED if not (run.path / name).is_file()]
        if missing:
            raise BundleError(f"Run '{run.path}' is incomplete: missing {', '.join(missing)}. Retrain it.")
        if not run.meta.get("complete"):
            raise BundleError(f"Run '{run.path}' was never completed ({_META} says so). Retrain or --resume it.")
        run.check()
        return run

    def check(self) -> None:
        """Validate labels, meta and the model file's class count (without loading weights)."""
        classes, units = self.classes, self._model_units()
        if units is not None and units != len(classes):
            raise BundleError(
                f"Run '{self.path}' is inconsistent: {_LABELS} names {len(classes)} classes but the model has "
                f"{units} outputs. Restore {_LABELS} from a backup or retrain the run."
            )
        from imgclf.models.registry import get_backbone

        try:
            get_backbone(str(self.meta.get("backbone")))
            if int(self.meta["input_size"]) < 1:
                raise ValueError(self.meta["input_size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"'{self.path / _META}' is damaged ({exc}); retrain or restore the run.") from None

    def _model_units(self) -> int | None:
        try:
            with zipfile.ZipFile(self.model_path) as archive:
                return _dense_units(json.loads(archive.read("config.json")))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BundleError(
                f"Model file '{self.model_path}' is damaged or truncated ({exc}). Retrain or restore the run."
            ) from None

    # --- reading -------------------------------------------------------------------------------------------

    def _json(self, relative: str, *, optional: bool = False) -> Any:
        path = self.path / relative
        if optional and not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"'{path}' is unreadable or not valid JSON ({exc}); retrain or restore the run.") from exc

    def _damaged(self, relative: str, expected: str) -> BundleError:
        path = self.path / relative
        return BundleError(f"'{path}' has the wrong shape: expected {expected}. Retrain or restore the run.")

    @functools.cached_property
    def meta(self) -> dict[str, Any]:
        """``meta.json``: backbone, input size, precision, timings, ``complete``..."""
        meta = self._json(_META)
        if not isinstance(meta, dict):
            raise self._damaged(_META, "a JSON object")
        return meta

    @functools.cached_property
    def classes(self) -> tuple[str, ...]:
        """Class names in output order (``labels.json``), at least two, unique."""
        data = self._json(_LABELS)
        names = data.get("classes") if isinstance(data, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise self._damaged(_LABELS, '{"classes": ["name", ...]}')
        if len(names) < 2 or len(set(names)) != len(names):
            raise self._damaged(_LABELS, f"two or more distinct class names, found {names}")
        return tuple(names)

    @property
    def backbone(self) -> str:
        """The registry name of the run's backbone."""
        return str(self.meta["backbone"])

    @property
    def input_size(self) -> int:
        """Pixels per side the model takes."""
        return int(self.meta["input_size"])

    @property
    def config(self) -> dict[str, Any]:
        """The resolved training settings (from ``meta.json``)."""
        return dict(self.meta.get("config") or {})

    @property
    def calibration(self) -> dict[str, Any] | None:
        """``calibration.json`` (temperature, thresholds) after ``imgclf evaluate``, else ``None``."""
        data = self._json(_CALIBRATION, optional=True)
        if data is not None and not (isinstance(data, dict) and isinstance(data.get("temperature", 1.0), int | float)):
            raise self._damaged(_CALIBRATION, 'an object with a numeric "temperature"')
        return data

    @property
    def parity(self) -> ParityCheck | None:
        """The reduced-precision parity check ``imgclf evaluate`` recorded in ``calibration.json``, else ``None``."""
        record = (self.calibration or {}).get(_PARITY)
        if record is None:
            return None
        try:
            return ParityCheck.from_dict(record)
        except ValueError as exc:
            raise BundleError(
                f"'{self.path / _CALIBRATION}' has a damaged \"{_PARITY}\" record ({exc}); run "
                f"'imgclf evaluate {self.path}' to check and record it again."
            ) from None

    @property
    def metrics(self) -> dict[str, Any] | None:
        """``eval/metrics.json`` after ``imgclf evaluate``, else ``None``."""
        data = self._json(f"{_EVAL}/{_METRICS}", optional=True)
        if data is not None and not (isinstance(data, dict) and isinstance(data.get("test"), dict)):
            raise self._damaged(f"{_EVAL}/{_METRICS}", 'an object with a "test" section')
        return data

    def confusion(self) -> tuple[tuple[str, ...], np.ndarray] | None:
        """The evaluation confusion matrix (rows = true class) with its labels, or ``None`` before evaluation."""
        metrics = self.metrics
        if metrics is None:
            return None
        labels = tuple(metrics.get("classes") or self.classes)
        try:
            counts = np.asarray(metrics["test"]["confusion_matrix"], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            raise self._damaged(f"{_EVAL}/{_METRICS}", "a test.confusion_matrix of counts") from None
        if counts.shape != (len(labels), len(labels)):
            raise self._damaged(f"{_EVAL}/{_METRICS}", f"a {len(labels)}x{len(labels)} confusion matrix")
        return labels, counts

    @property
    def dataset_report(self) -> dict[str, Any] | None:
        """The dataset check recorded at training time (``None`` for runs without one)."""
        data = self._json(_DATASET_REPORT, optional=True)
        return data if isinstance(data, dict) else None

    def _csv(self, relative: str) -> list[dict[str, str]]:
        path = self.path / relative
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise BundleError(f"'{path}' is unreadable ({exc}); retrain or restore the run.") from None

    def history(self) -> list[dict[str, str]]:
        """``history.csv`` rows (both phases), as strings keyed by :data:`HISTORY_FIELDS`."""
        return self._csv(_HISTORY)

    def predictions(self) -> list[dict[str, str]]:
        """The evaluation's per-image rows (keys :data:`PREDICTION_FIELDS`), or ``[]`` before evaluation."""
        return self._csv(f"{_EVAL}/{_PREDICTIONS}") if self.predictions_path.is_file() else []

    def splits(self) -> dict[str, list[tuple[Path, str]]]:
        """Which file went to which split: ``{"train": [(path, label), ...], "val": ..., "test": ...}``."""
        data = self._json(_SPLITS, optional=True)
        if data is None:
            raise BundleError(f"Run '{self.path}' has no {_SPLITS}; pass --data DIR to say which images to use.")
        try:
            return {split: [(Path(p), str(label)) for p, label in rows] for split, rows in data.items()}
        except (AttributeError, TypeError, ValueError):
            raise self._damaged(_SPLITS, '{"train": [[path, label], ...], ...}') from None

    def features(self) -> np.ndarray | None:
        """The training embeddings for the OOD score (``features.npz``), or ``None`` when the run has none."""
        path = self.path / _FEATURES
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                features = np.asarray(data["features"], dtype=np.float32)
        except Exception as exc:  # numpy raises zipfile, EOF, OS and value errors for a damaged archive
            raise BundleError(
                f"'{path}' is damaged ({type(exc).__name__}); run 'imgclf evaluate {self.path}' to rewrite it."
            ) from None
        if features.ndim != 2 or not len(features):
            raise self._damaged(_FEATURES, "a non-empty (images, features) array")
        return features

    def load_model(self) -> keras.Model:
        """The classifier from ``model.keras`` in safe mode, checked against the class count."""
        import keras

        import imgclf.models.layers  # noqa: F401  (registers the layers of runs saved before the standalone format)

        try:
            model = keras.saving.load_model(self.model_path, compile=False, safe_mode=True)
        except Exception as exc:
            raise BundleError(
                f"Model file '{self.model_path}' is damaged or not a Keras model ({exc}). Retrain the run."
            ) from None
        if int(model.outputs[0].shape[-1]) != len(self.classes):
            raise BundleError(
                f"Run '{self.path}': the model has {model.outputs[0].shape[-1]} outputs but {_LABELS} names "
                f"{len(self.classes)} classes. Restore {_LABELS} or retrain the run."
            )
        return model

    @property
    def prepared(self) -> bool:
        """Whether training has written its first files here (a ``.partial`` run worth resuming)."""
        return (self.path / _META).is_file()

    def stamp(self) -> float:
        """Changes whenever the model, calibration or embeddings change (a cache key for loaded models)."""
        files = (self.model_path, self.path / _CALIBRATION, self.path / _FEATURES)
        return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)

    # --- paths of artefacts that other tools open (a browser, pandas, an image viewer) ---------------------

    @property
    def model_path(self) -> Path:
        return self.path / _MODEL

    @property
    def eval_dir(self) -> Path:
        return self.path / _EVAL

    @property
    def plots_dir(self) -> Path:
        return self.path / _EVAL / _PLOTS

    @property
    def report_path(self) -> Path:
        return self.path / _EVAL / _REPORT

    @property
    def predictions_path(self) -> Path:
        return self.path / _EVAL / _PREDICTIONS

    @property
    def checkpoints(self) -> Path:
        """Resumable training state (only in a ``.partial`` run; removed when the run completes)."""
        return self.path / _CHECKPOINTS

    # --- shipping a run to another machine (e.g. a Ray actor) --------------------------------------------------

    def pack(self) -> dict[str, bytes]:
        """The run's top-level files (model, classes, settings, calibration, embeddings) by name, as bytes:
        what :meth:`unpack` needs to rebuild the run where its folder is not reachable."""
        return {f.name: f.read_bytes() for f in sorted(self.path.iterdir()) if f.is_file()}

    @classmethod
    def unpack(cls, folder: str | Path, files: Mapping[str, bytes]) -> Run:
        """Write ``files`` (from :meth:`pack`) into the empty ``folder`` and open the run they make."""
        folder = Path(folder)
        for name, data in files.items():
            (folder / Path(name).name).write_bytes(data)
        return cls.open(folder)

    # --- writing -------------------------------------------------------------------------------------------

    def write_json(self, relative: str, data: Any) -> None:
        _write_text(self.path / relative, json.dumps(data, indent=2, default=str))

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """Replace ``meta.json``."""
        self.write_json(_META, dict(meta))
        self.__dict__.pop("meta", None)

    def prepare(
        self,
        *,
        config: Mapping[str, Any],
        meta: Mapping[str, Any],
        classes: Sequence[str],
        dataset_report: Mapping[str, Any],
        splits: Mapping[str, Sequence[tuple[str, str]]],
    ) -> None:
        """Write what a new run knows before training (settings, classes, data check, splits)."""
        self.checkpoints.mkdir(exist_ok=True)
        _write_text(self.path / _CONFIG, yaml.safe_dump({**config, "_run": dict(meta)}, sort_keys=False))
        self.write_json(_LABELS, {"classes": list(classes)})
        self.write_json(_DATASET_REPORT, dict(dataset_report))
        self.write_json(_SPLITS, {name: [list(row) for row in rows] for name, rows in splits.items()})
        self.write_meta({**meta, "complete": False})

    def save_model(self, model: keras.Model) -> None:
        """Write ``model.keras`` atomically."""
        tmp = self.path / f".tmp.{_MODEL}"
        model.save(tmp)
        os.replace(tmp, self.model_path)

    def _write_csv(self, relative: str, fields: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        path = self.path / relative
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)

    def write_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``history.csv`` (one row per epoch of both phases)."""
        self._write_csv(_HISTORY, HISTORY_FIELDS, rows)

    def write_predictions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write the evaluation's per-image rows (keys :data:`PREDICTION_FIELDS`)."""
        self.eval_dir.mkdir(exist_ok=True)
        self._write_csv(f"{_EVAL}/{_PREDICTIONS}", PREDICTION_FIELDS, rows)

    def write_features(self, features: np.ndarray, labels: np.ndarray, paths: Sequence[str] | None = None) -> None:
        """Write the training embeddings used by the OOD score."""
        tmp = self.path / f".{_FEATURES}.tmp.npz"
        extra = {} if paths is None else {"paths": np.asarray(paths)}
        np.savez_compressed(tmp, features=features, labels=labels, **extra)
        os.replace(tmp, self.path / _FEATURES)

    def write_calibration(self, calibration: Mapping[str, Any], parity: ParityCheck | None = None) -> None:
        """Write ``calibration.json``, with the reduced-precision ``parity`` check when one is known."""
        record = {_PARITY: parity.to_dict()} if parity is not None else {}
        self.write_json(_CALIBRATION, {**calibration, **record})

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        self.eval_dir.mkdir(exist_ok=True)
        self.write_json(f"{_EVAL}/{_METRICS}", dict(metrics))

    def finalize(self, run_dir: Path) -> Run:
        """Mark this partial run complete, drop its checkpoints and publish it as ``run_dir``."""
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        self.write_meta({**self.meta, "complete": True})
        os.replace(self.path, run_dir)
        return Run(run_dir)


def scan_runs(folder: str | Path) -> Iterator[tuple[Path, Run | None, str | None]]:
    """Each run folder directly under ``folder``: ``(path, run, None)`` when complete, ``(path, None, problem)``.

    Partial runs still being written are skipped; anything else that looks like a run is reported with its
    problem, so a damaged run is listed instead of breaking the caller.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.endswith(".partial") or child.name.startswith("."):
            continue
        if not any((child / name).exists() for name in (_MODEL, _META, _LABELS)):
            continue
        try:
            yield child, Run.open(child), None
        except BundleError as exc:
            yield child, None, str(exc)
