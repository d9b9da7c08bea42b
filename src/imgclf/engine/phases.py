"""The two training phases.

Phase 1 trains the head with the backbone frozen: on cached features (fast recipe) or through the frozen
backbone with live augmentation (classic recipe). Phase 2 fine-tunes the top of the backbone at a lower
learning rate: on cached activations at the fine-tuning cut (fast recipe, when they fit the cache budget)
or on live-augmented images. Both phases checkpoint every epoch into the run's checkpoints folder (see
:mod:`imgclf.engine.resume`), so ``--resume`` continues the schedule, the optimizer and early stopping exactly.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

from imgclf.config import Config
from imgclf.data.pipeline import image_dataset
from imgclf.engine.augment import build_augmenter
from imgclf.engine.cached import CachedInputs, cached_inputs, feature_augmenter, pooled_from_activations, top_model
from imgclf.engine.features import EpochShuffle, FeatureBatches
from imgclf.engine.progress import KerasProgress, ProgressCallback, ProgressEvent
from imgclf.engine.resume import ResumableFit
from imgclf.engine.run import Run
from imgclf.models.build import feature_model, set_finetune
from imgclf.models.registry import BackboneSpec

__all__ = ["PhaseContext", "keeps_finetuning", "kept_epoch", "run_phase1", "run_phase2", "save_embeddings"]

KEPT_PHASE1 = "fine-tuning got fewer validation images right, or as many at a higher loss; keeping the phase-1 weights"


@dataclasses.dataclass(frozen=True)
class PhaseContext:
    """What both phases need: settings, backbone facts, data, the run folder, progress and timings."""

    cfg: Config
    spec: BackboneSpec
    size: int
    precision: str
    weights_id: str
    data: object  # trainer.TrainData (untyped here to avoid an import cycle)
    partial: Run
    notify: ProgressCallback
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def checkpoints(self) -> Path:
        return self.partial.checkpoints


class EpochLog(keras.callbacks.Callback):
    """One history row per epoch (metrics, learning rate, seconds) appended to ``rows``."""

    def __init__(self, phase: int, rows: list[dict]):
        super().__init__()
        self.phase, self.rows = phase, rows
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        row = {"phase": self.phase, "epoch": epoch + 1, **metrics, "lr": lr}
        self.rows.append({**row, "seconds": round(time.perf_counter() - self._start, 3)})


def _class_weights(labels: np.ndarray, n: int, setting: str | bool) -> dict[int, float] | None:
    counts = np.bincount(labels, minlength=n).astype(float)
    if setting is False or (setting == "auto" and counts.max() / max(counts.min(), 1) <= 1.5):
        return None
    return {i: float(len(labels) / (n * max(c, 1))) for i, c in enumerate(counts)}


def _compile(model: keras.Model, cfg: Config, phase: int, steps: int) -> None:
    """Adam at the phase's learning rate; the cosine schedule spans all the phase's epochs (a resumed fit's
    optimizer step count, restored with its backup, puts it back where it was)."""
    lr, epochs = (cfg.phase1_lr, cfg.phase1_epochs) if phase == 1 else (cfg.phase2_lr, cfg.phase2_epochs)
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _fit(model: keras.Model, train, val, ctx: PhaseContext, *, phase: int, rows: list[dict]) -> None:
    """Fit with early stopping (best weights restored), LR scheduling, class weights, progress events, and a
    backup after every epoch that a resumed fit continues from exactly (the epoch count, the schedule's step,
    early stopping's memory, the batches' order)."""
    cfg = ctx.cfg
    epochs = cfg.phase1_epochs if phase == 1 else cfg.phase2_epochs
    _, y_train = ctx.data.xy("train")
    watched = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)]
    if cfg.lr_schedule == "plateau":
        patience = max(1, cfg.patience // 2)
        watched.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=patience))
    callbacks = [*watched, EpochLog(phase, rows)]
    if isinstance(train, FeatureBatches):
        callbacks.append(EpochShuffle(train))
    callbacks += [
        ResumableFit(ctx.checkpoints / f"phase{phase}_backup", watched, rows),
        KerasProgress(ctx.notify, f"phase{phase}", epochs),  # last: an interrupt here finds the epoch saved
    ]
    started = time.perf_counter()
    model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        shuffle=False,  # FeatureBatches shuffles by (seed, epoch); Keras would reorder batches by global state
        class_weight=_class_weights(y_train, len(ctx.data.classes), cfg.class_weights),
    )
    ctx.timings[f"phase{phase}"] = ctx.timings.get(f"phase{phase}", 0.0) + time.perf_counter() - started


def _image_sets(ctx: PhaseContext, augment: bool) -> tuple[object, object]:
    cfg, n = ctx.cfg, len(ctx.data.classes)
    x_train, y_train = ctx.data.xy("train")
    x_val, y_val = ctx.data.xy("val")
    aug = build_augmenter(cfg.augment, seed=cfg.seed) if augment else None
    train = image_dataset(
        x_train,
        y_train,
        size=ctx.size,
        batch_size=cfg.batch_size,
        num_classes=n,
        shuffle=True,
        seed=cfg.seed,
        augmenter=aug,
        max_pixels=cfg.max_pixels,
    )
    val = image_dataset(
        x_val, y_val, size=ctx.size, batch_size=cfg.batch_size, num_classes=n, max_pixels=cfg.max_pixels
    )
    return train, val


def _batches(ctx: PhaseContext, train: np.ndarray, val: np.ndarray) -> tuple[FeatureBatches, FeatureBatches]:
    n, cfg = len(ctx.data.classes), ctx.cfg
    return (
        FeatureBatches(train, ctx.data.xy("train")[1], n, batch_size=cfg.batch_size, seed=cfg.seed, shuffle=True),
        FeatureBatches(val, ctx.data.xy("val")[1], n, batch_size=cfg.batch_size, seed=cfg.seed, shuffle=False),
    )


def save_embeddings(model: keras.Model, backbone: keras.Model, cached: CachedInputs | None, ctx: PhaseContext) -> None:
    """Store the final model's pooled features of the clean training images (for the OOD score)."""
    cfg = ctx.cfg
    if cached is not None and cfg.phase2_epochs == 0:
        features = np.asarray(cached.pooled["train"][:, 0], np.float32)
    elif cached is not None and cached.activations:
        features = pooled_from_activations(model, backbone, ctx.spec, cached.activations["train"][:, 0])
    else:
        plain = image_dataset(
            ctx.data.xy("train")[0], None, size=ctx.size, batch_size=cfg.batch_size, max_pixels=cfg.max_pixels
        )
        features = feature_model(model).predict(plain, verbose=0)
    labels = ctx.data.xy("train")[1]
    ctx.partial.write_features(np.asarray(features, np.float16), labels)


def _finished(model: keras.Model, ctx: PhaseContext, phase: int) -> list[dict] | None:
    """The history rows of ``phase`` when an earlier attempt finished it (its weights then go into ``model``)."""
    weights = ctx.checkpoints / f"phase{phase}.weights.h5"
    if not weights.is_file():
        return None
    model.load_weights(weights)
    state = json.loads((ctx.checkpoints / f"phase{phase}_done.json").read_text(encoding="utf-8"))
    ctx.notes.extend(state["notes"])
    return state["rows"]


def _finish(model: keras.Model, ctx: PhaseContext, phase: int, rows: list[dict], notes: list[str]) -> list[dict]:
    """Record ``phase`` as finished (its rows and notes, then the weights, which mark it done) and return ``rows``."""
    done = {"rows": rows, "notes": notes}
    (ctx.checkpoints / f"phase{phase}_done.json").write_text(json.dumps(done), encoding="utf-8")
    model.save_weights(ctx.checkpoints / f"phase{phase}.weights.h5")
    return rows


def run_phase1(model: keras.Model, backbone: keras.Model, head: keras.Model, ctx: PhaseContext) -> tuple[list, object]:
    """Train the head with the backbone frozen; return history rows and the cached inputs (fast recipe)."""
    cfg = ctx.cfg
    backbone.trainable = False
    cached = cached_inputs(model, backbone, ctx) if cfg.recipe == "fast" else None
    rows = _finished(model, ctx, 1)
    if rows is not None:
        return rows, cached
    rows = []
    if cfg.phase1_epochs:
        if cached is not None:
            train, val = _batches(ctx, cached.pooled["train"], cached.pooled["val"])
            target = head
        else:
            train, val = _image_sets(ctx, augment=True)
            target = model
        _compile(target, cfg, 1, len(train))
        _fit(target, train, val, ctx, phase=1, rows=rows)
    return _finish(model, ctx, 1, rows, []), cached


def kept_epoch(history: list[dict], notes: list[str]) -> dict | None:
    """The history row of the epoch whose weights the model holds (lowest validation loss of the phase kept), or
    ``None`` when no epoch was trained; values may be strings (as read back from ``history.csv``)."""
    phase = 1 if KEPT_PHASE1 in notes or not any(int(r["phase"]) == 2 for r in history) else 2
    rows = [r for r in history if int(r["phase"]) == phase and r.get("val_loss") not in (None, "")]
    return min(rows, key=lambda r: float(r["val_loss"])) if rows else None


def keeps_finetuning(loss: float, accuracy: float, rows: list[dict], n_val: int) -> bool:
    """Whether fine-tuning pays: the epoch it keeps (lowest validation loss, which early stopping restores) gets
    more of the ``n_val`` validation images right than phase 1's ``accuracy``, or as many at a lower loss.

    Accuracy decides, to the image (one image is the tolerance: a smaller gain is noise); the loss breaks ties.
    """
    kept = min(rows, key=lambda r: r["val_loss"])
    gained = round((kept["val_accuracy"] - accuracy) * n_val)
    return gained > 0 or (gained == 0 and kept["val_loss"] < loss)


def run_phase2(model: keras.Model, backbone: keras.Model, cached: CachedInputs | None, ctx: PhaseContext) -> list:
    """Fine-tune the top of the backbone (BatchNorm frozen); keep it when :func:`keeps_finetuning` says so."""
    cfg = ctx.cfg
    rows = _finished(model, ctx, 2)
    if rows is not None or not cfg.phase2_epochs:
        return rows or []
    set_finetune(backbone, ctx.spec, cfg.unfreeze)
    if cached is not None and cached.activations:
        target = top_model(model, backbone, ctx.spec, feature_augmenter(cfg))
        train, val = _batches(ctx, cached.activations["train"], cached.activations["val"])
    else:
        target = model
        train, val = _image_sets(ctx, augment=cfg.augment != "none")
    _compile(target, cfg, 2, len(train))
    loss, accuracy = target.evaluate(val, verbose=0)[:2]  # the phase-1 weights' (also when resuming)
    rows = []
    _fit(target, train, val, ctx, phase=2, rows=rows)
    notes = []
    if not keeps_finetuning(float(loss), float(accuracy), rows, len(ctx.data.val)):
        model.load_weights(ctx.checkpoints / "phase1.weights.h5")
        ctx.notify(ProgressEvent("note", 0, 0, KEPT_PHASE1))
        notes.append(KEPT_PHASE1)
    ctx.notes.extend(notes)
    return _finish(model, ctx, 2, rows, notes)
