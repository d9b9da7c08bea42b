"""What the fast recipe caches: pooled features (phase 1) and, when they fit the budget, the activations at
the fine-tuning cut (phase 2 then trains only the unfrozen top on them, never re-running the frozen part).

Augmented views are made in feature space: flips, zooms and shifts of the cached activation map, through the
top block only (``feature_views`` of them for phase 1, new ones every epoch of phase 2), instead of a full
forward pass per augmented image (``cache_views``, still available)."""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from imgclf.engine.augment import build_augmenter
from imgclf.engine.cache import FeatureCache, cache_root, content_hash
from imgclf.engine.features import extract_features
from imgclf.engine.progress import ProgressEvent
from imgclf.models.registry import BackboneSpec

__all__ = [
    "CachedInputs",
    "cached_inputs",
    "feature_augmenter",
    "feature_caches",
    "feature_forward",
    "pooled_from_activations",
    "top_model",
]


@dataclasses.dataclass(frozen=True)
class CachedInputs:
    """Memory-mapped ``(N, views, ...)`` arrays per split: pooled features, and cut activations if cached."""

    pooled: dict[str, np.ndarray]
    activations: dict[str, np.ndarray]


def _split_backbone(backbone: keras.Model, spec: BackboneSpec) -> tuple[keras.Model, keras.Model]:
    """The frozen part (input -> cut) and the fine-tuned top (cut -> output), sharing the backbone's layers."""
    cut = backbone.get_layer(spec.unfreeze_after).output
    return keras.Model(backbone.input, cut, name="frozen_part"), keras.Model(cut, backbone.output, name="top_part")


def top_model(
    model: keras.Model, backbone: keras.Model, spec: BackboneSpec, augmenter: keras.Model | None = None
) -> keras.Model:
    """Cut activations -> class probabilities, through the classifier's own top layers, pooling and head
    (with ``augmenter`` applied to the activations first, in training only)."""
    _, upper = _split_backbone(backbone, spec)
    inputs = keras.Input(upper.input.shape[1:], name="activations")
    maps = augmenter(inputs) if augmenter is not None else inputs
    outputs = model.get_layer("head")(model.get_layer("pool")(upper(maps)))
    return keras.Model(inputs, outputs, name="finetune_top")


def _top_step(model: keras.Model, backbone: keras.Model, spec: BackboneSpec, augmenter: keras.Model | None):
    """Cut activations -> pooled features through the top of the backbone (augmented first, with ``augmenter``)."""
    _, upper = _split_backbone(backbone, spec)
    pool = model.get_layer("pool")
    if augmenter is None:
        return lambda maps: pool(upper(maps, training=False))
    return tf.function(lambda maps: pool(upper(augmenter(maps, training=True), training=False)), reduce_retracing=True)


def _pooled(step, activations: np.ndarray, batch_size: int = 64) -> np.ndarray:
    chunks = [
        np.asarray(step(tf.constant(np.asarray(activations[i : i + batch_size], np.float32))))
        for i in range(0, len(activations), batch_size)
    ]
    return np.concatenate(chunks)


def pooled_from_activations(
    model: keras.Model, backbone: keras.Model, spec: BackboneSpec, activations: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Pooled features of cached cut activations through the (fine-tuned) top of the backbone."""
    return _pooled(_top_step(model, backbone, spec, None), activations, batch_size)


def _activation_bytes(lower: keras.Model, images: int) -> float:
    return 2.0 * math.prod(lower.output.shape[1:]) * images


def _use_activations(lower: keras.Model, ctx) -> bool:
    cfg = ctx.cfg
    if not (cfg.phase2_epochs or _feature_views_on(cfg)) or cfg.unfreeze != "default":
        return False
    images = len(ctx.data.train) * (1 + cfg.cache_views) + len(ctx.data.val)
    return _activation_bytes(lower, images) <= cfg.activation_cache_gb * 1e9


def _feature_views_on(cfg) -> bool:
    return bool(cfg.feature_views) and cfg.augment != "none"


def feature_augmenter(cfg) -> keras.Model | None:
    """The activation-map augmenter of ``cfg`` (``None`` when ``feature_views`` or ``augment`` turns it off)."""
    return build_augmenter(cfg.augment, seed=cfg.seed, feature_maps=True) if _feature_views_on(cfg) else None


def _with_feature_views(model: keras.Model, backbone: keras.Model, ctx, pooled: np.ndarray, clean: np.ndarray):
    """``pooled`` ``(N, V, D)`` followed by ``feature_views`` views made from the clean cut activations ``clean``:
    each an augmented activation map through the top block, written to a memory-mapped array."""
    augmenter, views = feature_augmenter(ctx.cfg), ctx.cfg.feature_views
    n, stored = pooled.shape[0], pooled.shape[1]
    out = np.lib.format.open_memmap(
        ctx.checkpoints / f"pooled-with-{views}-feature-views-{n}.npy",
        mode="w+",
        dtype=np.float16,
        shape=(n, stored + views, *pooled.shape[2:]),
    )
    out[:, :stored] = pooled
    step = _top_step(model, backbone, ctx.spec, augmenter)
    for view in range(views):
        out[:, stored + view] = _pooled(step, clean)
    out.flush()
    return out


def feature_forward(model: keras.Model, backbone: keras.Model, spec: BackboneSpec, with_activations: bool):
    """Pixels -> (pooled features[, cut activations]): what the cache stores, one forward pass for both."""
    lower, upper = _split_backbone(backbone, spec)
    preprocess, pool = model.get_layer("preprocess"), model.get_layer("pool")

    @tf.function(reduce_retracing=True)
    def forward(x):
        act = lower(preprocess(x), training=False)
        pooled = pool(upper(act, training=False))
        return (pooled, act) if with_activations else (pooled,)

    return forward


def _warn_unwritable(caches: list[FeatureCache], ctx) -> None:
    """Tell the user (a progress note, and the run's notes) when the feature cache could not be written."""
    problem = next((c.problem for c in caches if c.problem), None)
    if problem is None:
        return
    note = (
        f"Feature cache '{caches[0].root}' cannot be written ({problem}); trained without it: this run's features "
        "were computed but not kept for the next run. Free some space or set IMGCLF_CACHE_DIR to a writable folder."
    )
    ctx.notify(ProgressEvent("note", 0, 0, note))
    ctx.notes.append(note)


def feature_caches(backbone: keras.Model, ctx) -> list[FeatureCache]:
    """The caches the fast recipe fills: pooled features, and the cut activations when they fit the budget."""
    cfg = ctx.cfg
    lower, _ = _split_backbone(backbone, ctx.spec)
    common = dict(
        backbone=ctx.spec.name,
        weights_id=ctx.weights_id,
        input_size=ctx.size,
        precision=ctx.precision,
        augment=cfg.augment,
    )
    caches = [FeatureCache(cache_root(), **common)]
    if _use_activations(lower, ctx):
        caches.append(FeatureCache(cache_root(), **common, kind=ctx.spec.unfreeze_after))
    return caches


def cached_inputs(model: keras.Model, backbone: keras.Model, ctx) -> CachedInputs:
    """Extract (or read back from the cache) the fast recipe's inputs for the train and val splits."""
    cfg, started = ctx.cfg, time.perf_counter()
    caches = feature_caches(backbone, ctx)
    with_act = len(caches) > 1
    forward = feature_forward(model, backbone, ctx.spec, with_act)
    pooled, acts = {}, {}
    for split, views in (("train", 1 + cfg.cache_views), ("val", 1)):
        paths, _ = ctx.data.xy(split)
        arrays = extract_features(
            forward,
            paths,
            [content_hash(p) for p in paths],
            views=views,
            caches=caches,
            size=ctx.size,
            batch_size=cfg.batch_size,
            augmenter=build_augmenter(cfg.augment, seed=cfg.seed),
            out_dir=ctx.checkpoints,
            progress=ctx.notify,
            max_pixels=cfg.max_pixels,
        )
        pooled[split] = arrays[0]
        if with_act:
            acts[split] = arrays[1]
    if acts and _feature_views_on(cfg):
        pooled["train"] = _with_feature_views(model, backbone, ctx, pooled["train"], acts["train"][:, 0])
    _warn_unwritable(caches, ctx)
    ctx.timings["features"] = time.perf_counter() - started
    return CachedInputs(pooled, acts)
