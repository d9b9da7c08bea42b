"""The two training phases. Phase 1 trains the head with the backbone frozen (on cached features for the
fast recipe, through the frozen backbone with live augmentation for the classic one); phase 2 fine-tunes
the top of the backbone at a lower learning rate. Both checkpoint into the run's partial folder."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from imgclf.config import Config
from imgclf.data.pipeline import image_dataset
from imgclf.engine.augment import build_augmenter
from imgclf.engine.cache import FeatureCache, cache_root, content_hash
from imgclf.engine.features import FeatureBatches, extract_features
from imgclf.engine.ood import FEATURES_FILE
from imgclf.engine.progress import KerasProgress, ProgressCallback
from imgclf.models.build import feature_model, set_finetune
from imgclf.models.registry import BackboneSpec

__all__ = ["PhaseContext", "run_phase1", "run_phase2"]


@dataclasses.dataclass(frozen=True)
class PhaseContext:
    """What both phases need: settings, backbone facts, data, the run folder and the progress hook."""

    cfg: Config
    spec: BackboneSpec
    size: int
    precision: str
    weights_id: str
    data: object  # trainer.TrainData (kept untyped here to avoid an import cycle)
    partial: Path
    notify: ProgressCallback

    @property
    def checkpoints(self) -> Path:
        return self.partial / "checkpoints"


def _class_weights(labels: np.ndarray, n: int, setting: str | bool) -> dict[int, float] | None:
    counts = np.bincount(labels, minlength=n).astype(float)
    if setting is False or (setting == "auto" and counts.max() / max(counts.min(), 1) <= 1.5):
        return None
    return {i: float(len(labels) / (n * max(c, 1))) for i, c in enumerate(counts)}


def _optimizer(lr: float, epochs: int, steps: int, schedule: str) -> keras.optimizers.Optimizer:
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
    return keras.optimizers.Adam(learning_rate=lr)


def _callbacks(ctx: PhaseContext, stage: str, epochs: int, first_epoch: int = 0) -> list[keras.callbacks.Callback]:
    cbs = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=ctx.cfg.patience, restore_best_weights=True, start_from_epoch=0
        ),
        KerasProgress(ctx.notify, stage, epochs, first_epoch),
    ]
    if ctx.cfg.lr_schedule == "plateau":
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=max(1, ctx.cfg.patience // 2))
        )
    return cbs


def _rows(history: keras.callbacks.History, phase: int, seconds: float, lr: float) -> list[dict]:
    logs, epochs = history.history, len(history.history.get("loss", []))
    per_epoch = seconds / max(epochs, 1)
    return [
        {
            "phase": phase,
            "epoch": e + 1,
            **{k: float(v[e]) for k, v in logs.items() if k != "learning_rate"},
            "lr": float(logs.get("learning_rate", [lr] * epochs)[e]),
            "seconds": round(per_epoch, 3),
        }
        for e in range(epochs)
    ]


def _compile(model: keras.Model, cfg: Config, lr: float, epochs: int, steps: int) -> None:
    model.compile(
        optimizer=_optimizer(lr, epochs, steps, cfg.lr_schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _cached_features(model: keras.Model, ctx: PhaseContext) -> dict[str, np.ndarray]:
    """Clean + augmented train features and clean val features from the on-disk cache."""
    cfg = ctx.cfg
    cache = FeatureCache(
        cache_root(),
        backbone=ctx.spec.name,
        weights_id=ctx.weights_id,
        input_size=ctx.size,
        precision=ctx.precision,
        augment=cfg.augment,
    )
    extractor = feature_model(model)
    fn = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    out = {}
    for split, views in (("train", 1 + cfg.cache_views), ("val", 1)):
        paths, _ = ctx.data.xy(split)
        out[split] = extract_features(
            fn,
            paths,
            [content_hash(p) for p in paths],
            views=views,
            cache=cache,
            size=ctx.size,
            batch_size=cfg.batch_size,
            augmenter=build_augmenter(cfg.augment, seed=cfg.seed),
            out=ctx.checkpoints / f"{split}_features.npy",
            progress=ctx.notify,
            max_pixels=cfg.max_pixels,
        )
    return out


def _save_embeddings(ctx: PhaseContext, features: np.ndarray, labels: np.ndarray) -> None:
    np.savez_compressed(ctx.partial / FEATURES_FILE, features=features.astype(np.float16), labels=labels)


def _phase1_fast(model: keras.Model, head: keras.Model, ctx: PhaseContext) -> keras.callbacks.History:
    cfg, n = ctx.cfg, len(ctx.data.classes)
    feats = _cached_features(model, ctx)
    _, y_train = ctx.data.xy("train")
    _, y_val = ctx.data.xy("val")
    _save_embeddings(ctx, np.asarray(feats["train"][:, 0]), y_train)
    batches = FeatureBatches(feats["train"], y_train, n, batch_size=cfg.batch_size, seed=cfg.seed)
    val = FeatureBatches(feats["val"], y_val, n, batch_size=256, seed=cfg.seed)
    _compile(head, cfg, cfg.phase1_lr, cfg.phase1_epochs, len(batches))
    return head.fit(
        batches,
        validation_data=val,
        epochs=cfg.phase1_epochs,
        verbose=0,
        class_weight=_class_weights(y_train, n, cfg.class_weights),
        callbacks=_callbacks(ctx, "phase1", cfg.phase1_epochs),
    )


def _image_sets(ctx: PhaseContext, augment: bool) -> tuple[object, object, np.ndarray]:
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
    return train, val, y_train


def _phase1_classic(model: keras.Model, backbone: keras.Model, ctx: PhaseContext) -> keras.callbacks.History:
    cfg, n = ctx.cfg, len(ctx.data.classes)
    backbone.trainable = False
    train, val, y_train = _image_sets(ctx, augment=True)
    _compile(model, cfg, cfg.phase1_lr, cfg.phase1_epochs, len(train))
    history = model.fit(
        train,
        validation_data=val,
        epochs=cfg.phase1_epochs,
        verbose=0,
        class_weight=_class_weights(y_train, n, cfg.class_weights),
        callbacks=_callbacks(ctx, "phase1", cfg.phase1_epochs),
    )
    paths, labels = ctx.data.xy("train")
    plain = image_dataset(paths, None, size=ctx.size, batch_size=cfg.batch_size, max_pixels=cfg.max_pixels)
    _save_embeddings(ctx, feature_model(model).predict(plain, verbose=0), labels)
    return history


def run_phase1(model: keras.Model, backbone: keras.Model, head: keras.Model, ctx: PhaseContext) -> list[dict]:
    """Train the head with the backbone frozen; resumable (the head is checkpointed when done)."""
    ckpt = ctx.checkpoints / "phase1.weights.h5"
    if ckpt.is_file():
        model.load_weights(ckpt)
        return json.loads((ctx.checkpoints / "phase1_history.json").read_text())
    if ctx.cfg.phase1_epochs == 0:
        return []
    backbone.trainable = False
    start = time.perf_counter()
    if ctx.cfg.recipe == "fast":
        history = _phase1_fast(model, head, ctx)
    else:
        history = _phase1_classic(model, backbone, ctx)
    rows = _rows(history, 1, time.perf_counter() - start, ctx.cfg.phase1_lr)
    model.save_weights(ckpt)
    (ctx.checkpoints / "phase1_history.json").write_text(json.dumps(rows))
    return rows


class _EpochCheckpoint(keras.callbacks.Callback):
    """Save weights and the finished epoch count after every phase-2 epoch (for ``--resume``)."""

    def __init__(self, folder: Path, first_epoch: int, rows: list[dict]):
        super().__init__()
        self.folder, self.first_epoch, self.rows = folder, first_epoch, rows

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.model.save_weights(self.folder / "phase2.weights.h5")
        row = {"phase": 2, "epoch": self.first_epoch + epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.rows.append(row)
        (self.folder / "phase2_state.json").write_text(json.dumps({"epochs_done": row["epoch"], "rows": self.rows}))


def run_phase2(model: keras.Model, backbone: keras.Model, ctx: PhaseContext) -> list[dict]:
    """Fine-tune the top of the backbone (BatchNorm frozen) with live augmentation; resumable per epoch."""
    cfg = ctx.cfg
    state_file = ctx.checkpoints / "phase2_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"epochs_done": 0, "rows": []}
    remaining = cfg.phase2_epochs - state["epochs_done"]
    if remaining <= 0:
        return state["rows"]
    if state["epochs_done"]:
        model.load_weights(ctx.checkpoints / "phase2.weights.h5")
    set_finetune(backbone, ctx.spec, cfg.unfreeze)
    train, val, y_train = _image_sets(ctx, augment=True)
    _compile(model, cfg, cfg.phase2_lr, remaining, len(train))
    rows = list(state["rows"])
    start = time.perf_counter()
    model.fit(
        train,
        validation_data=val,
        epochs=remaining,
        verbose=0,
        class_weight=_class_weights(y_train, len(ctx.data.classes), cfg.class_weights),
        callbacks=[
            *_callbacks(ctx, "phase2", cfg.phase2_epochs, state["epochs_done"]),
            _EpochCheckpoint(ctx.checkpoints, state["epochs_done"], rows),
        ],
    )
    per_epoch = (time.perf_counter() - start) / max(len(rows) - len(state["rows"]), 1)
    return [{**r, "lr": r.get("learning_rate", cfg.phase2_lr), "seconds": round(per_epoch, 3)} for r in rows]
