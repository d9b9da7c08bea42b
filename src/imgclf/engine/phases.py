"""The two training phases.

Phase 1 trains the head with the backbone frozen: on cached features (fast recipe) or through the frozen
backbone with live augmentation (classic recipe). Phase 2 fine-tunes the top of the backbone at a lower
learning rate: on cached activations at the fine-tuning cut (fast recipe, when they fit the cache budget)
or on live-augmented images. Both phases checkpoint into the run's partial folder so ``--resume`` works.
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
from imgclf.engine.cached import CachedInputs, cached_inputs, pooled_from_activations, top_model
from imgclf.engine.features import FeatureBatches
from imgclf.engine.progress import KerasProgress, ProgressCallback, ProgressEvent
from imgclf.engine.run import Run
from imgclf.models.build import feature_model, set_finetune
from imgclf.models.registry import BackboneSpec

__all__ = ["PhaseContext", "run_phase1", "run_phase2", "save_embeddings"]

KEPT_PHASE1 = "fine-tuning did not lower the validation loss; keeping the phase-1 weights"


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
    """One history row per epoch (metrics, learning rate, seconds); with ``save_to``, a resumable checkpoint."""

    def __init__(
        self,
        phase: int,
        rows: list[dict],
        first_epoch: int = 0,
        save_to: keras.Model | None = None,
        folder: Path | None = None,
        extra: dict | None = None,
    ):
        super().__init__()
        self.phase, self.rows, self.first_epoch = phase, rows, first_epoch
        self.save_to, self.folder, self.extra = save_to, folder, extra or {}
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        row = {
            "phase": self.phase,
            "epoch": self.first_epoch + epoch + 1,
            **metrics,
            "lr": lr,
            "seconds": round(time.perf_counter() - self._start, 3),
        }
        self.rows.append(row)
        if self.save_to is not None and self.folder is not None:
            self.save_to.save_weights(self.folder / f"phase{self.phase}.weights.h5")
            state = {"epochs_done": row["epoch"], "rows": self.rows, **self.extra}
            (self.folder / f"phase{self.phase}_state.json").write_text(json.dumps(state))


def _class_weights(labels: np.ndarray, n: int, setting: str | bool) -> dict[int, float] | None:
    counts = np.bincount(labels, minlength=n).astype(float)
    if setting is False or (setting == "auto" and counts.max() / max(counts.min(), 1) <= 1.5):
        return None
    return {i: float(len(labels) / (n * max(c, 1))) for i, c in enumerate(counts)}


def _compile(model: keras.Model, cfg: Config, lr: float, epochs: int, steps: int) -> None:
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _fit(
    model: keras.Model, train, val, ctx: PhaseContext, *, phase: int, epochs: int, log: EpochLog, first_epoch: int = 0
) -> None:
    """Fit with early stopping (best weights restored), LR scheduling, class weights and progress events."""
    cfg = ctx.cfg
    _, y_train = ctx.data.xy("train")
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True),
        KerasProgress(ctx.notify, f"phase{phase}", first_epoch + epochs, first_epoch),
        log,
    ]
    if cfg.lr_schedule == "plateau":
        patience = max(1, cfg.patience // 2)
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=patience))
    started = time.perf_counter()
    model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
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
        FeatureBatches(train, ctx.data.xy("train")[1], n, batch_size=cfg.batch_size, seed=cfg.seed),
        FeatureBatches(val, ctx.data.xy("val")[1], n, batch_size=cfg.batch_size, seed=cfg.seed),
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


def run_phase1(model: keras.Model, backbone: keras.Model, head: keras.Model, ctx: PhaseContext) -> tuple[list, object]:
    """Train the head with the backbone frozen; return history rows and the cached inputs (fast recipe)."""
    cfg, ckpt = ctx.cfg, ctx.checkpoints / "phase1.weights.h5"
    backbone.trainable = False
    cached = cached_inputs(model, backbone, ctx) if cfg.recipe == "fast" else None
    if ckpt.is_file():
        model.load_weights(ckpt)
        return json.loads((ctx.checkpoints / "phase1_history.json").read_text()), cached
    rows: list[dict] = []
    if cfg.phase1_epochs:
        if cached is not None:
            train, val = _batches(ctx, cached.pooled["train"], cached.pooled["val"])
            target = head
        else:
            train, val = _image_sets(ctx, augment=True)
            target = model
        _compile(target, cfg, cfg.phase1_lr, cfg.phase1_epochs, len(train))
        _fit(target, train, val, ctx, phase=1, epochs=cfg.phase1_epochs, log=EpochLog(1, rows))
    model.save_weights(ckpt)
    (ctx.checkpoints / "phase1_history.json").write_text(json.dumps(rows))
    return rows, cached


def run_phase2(model: keras.Model, backbone: keras.Model, cached: CachedInputs | None, ctx: PhaseContext) -> list:
    """Fine-tune the top of the backbone (BatchNorm frozen); resumable after every epoch."""
    cfg = ctx.cfg
    state_file = ctx.checkpoints / "phase2_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"epochs_done": 0, "rows": []}
    remaining = cfg.phase2_epochs - state["epochs_done"]
    if remaining <= 0:
        return state["rows"]
    if state["epochs_done"]:
        model.load_weights(ctx.checkpoints / "phase2.weights.h5")
    set_finetune(backbone, ctx.spec, cfg.unfreeze)
    if cached is not None and cached.activations:
        target = top_model(model, backbone, ctx.spec)
        train, val = _batches(ctx, cached.activations["train"], cached.activations["val"])
    else:
        target = model
        train, val = _image_sets(ctx, augment=cfg.augment != "none")
    rows = list(state["rows"])
    _compile(target, cfg, cfg.phase2_lr, remaining, len(train))
    baseline = state.get("baseline")
    if baseline is None:
        baseline = float(target.evaluate(val, verbose=0)[0])
    log = EpochLog(2, rows, state["epochs_done"], save_to=model, folder=ctx.checkpoints, extra={"baseline": baseline})
    _fit(target, train, val, ctx, phase=2, epochs=remaining, log=log, first_epoch=state["epochs_done"])
    if min(r["val_loss"] for r in rows) >= baseline:
        model.load_weights(ctx.checkpoints / "phase1.weights.h5")
        ctx.notify(ProgressEvent("note", 0, 0, KEPT_PHASE1))
        ctx.notes.append(KEPT_PHASE1)
    return rows
