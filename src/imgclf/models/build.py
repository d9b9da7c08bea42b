"""Assemble classifier models: preprocess -> backbone -> pooling -> head, and control what trains."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras

from imgclf.models.layers import preprocess_layer
from imgclf.models.registry import BackboneSpec

__all__ = [
    "backbone_of",
    "build_classifier",
    "build_head",
    "build_model",
    "cpu_supports_bf16",
    "feature_model",
    "precision",
    "rebuild",
    "resolve_precision",
    "set_finetune",
]


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(setting: str | bool) -> str:
    """Map the ``mixed_precision`` setting to a Keras dtype policy name."""
    import tensorflow as tf

    if setting is False:
        return "float32"
    if setting == "auto":
        if tf.config.list_physical_devices("GPU"):
            return "mixed_float16"
        return "mixed_bfloat16" if cpu_supports_bf16() else "float32"
    return f"mixed_{setting}"


@contextlib.contextmanager
def precision(policy: str) -> Iterator[None]:
    """Build layers under ``policy`` (e.g. ``mixed_bfloat16``), then restore the previous policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_head(*, feature_dim: int, num_classes: int, units: Sequence[int], dropout: float) -> keras.Sequential:
    """The classification head on pooled features: (dropout, dense relu)*, dropout, dense softmax."""
    layers: list[keras.layers.Layer] = [keras.Input((feature_dim,), name="features")]
    for i, n in enumerate(units):
        layers += [keras.layers.Dropout(dropout, name=f"dropout_{i}"), keras.layers.Dense(n, "relu", name=f"dense_{i}")]
    layers += [
        keras.layers.Dropout(dropout, name="dropout_out"),
        keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions"),
    ]
    return keras.Sequential(layers, name="head")


def build_classifier(spec: BackboneSpec, backbone: keras.Model, head: keras.Model, *, input_size: int) -> keras.Model:
    """One model from raw RGB pixels in [0, 255] to class probabilities, made of Keras' own layers only."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = preprocess_layer(spec.preprocess)(inputs)
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, head(x), name=f"imgclf_{spec.name}")


def build_model(
    spec: BackboneSpec, *, weights: str, input_size: int, num_classes: int, head_units: Sequence[int], dropout: float
) -> tuple[keras.Model, keras.Model, keras.Model, str]:
    """A new classifier with its backbone and head (shared layers) and the backbone weights' id."""
    from imgclf.models.weights import load_backbone

    backbone, weights_id = load_backbone(spec, weights, input_size)
    head = build_head(feature_dim=backbone.output.shape[-1], num_classes=num_classes, units=head_units, dropout=dropout)
    return build_classifier(spec, backbone, head, input_size=input_size), backbone, head, weights_id


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a classifier made by :func:`build_classifier` (e.g. one loaded from a file)."""
    return next(layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name != "head")


def feature_model(model: keras.Model) -> keras.Model:
    """The part of a classifier up to the pooled features (what the feature cache stores)."""
    return keras.Model(model.inputs, model.get_layer("pool").output, name="features")


def set_finetune(backbone: keras.Model, spec: BackboneSpec, unfreeze: str | int) -> int:
    """Unfreeze the top of ``backbone`` (BatchNorm stays frozen, in inference mode); return layers unfrozen."""
    backbone.trainable = True
    names = [layer.name for layer in backbone.layers]
    if unfreeze == "all":
        start = 0
    elif unfreeze == "default":
        start = names.index(spec.unfreeze_after) + 1
    else:
        start = max(0, len(names) - int(unfreeze))
    count = 0
    for i, layer in enumerate(backbone.layers):
        train = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train
        count += int(train and bool(layer.weights))
    return count


def rebuild(
    model: keras.Model, spec: BackboneSpec, *, policy: str, head_units: Sequence[int], dropout: float
) -> keras.Model:
    """``model`` (made by :func:`build_model`) rebuilt under the dtype ``policy`` with its trained weights.

    Mixed precision keeps float32 variables, so the copy is exact; training uses it to save float32 bundles
    that run at full speed on any machine, whatever precision they were trained in.
    """
    with precision(policy):
        rebuilt, _, _, _ = build_model(
            spec,
            weights="none",
            input_size=int(model.inputs[0].shape[1]),
            num_classes=int(model.outputs[0].shape[-1]),
            head_units=head_units,
            dropout=dropout,
        )
    rebuilt.set_weights(model.get_weights())
    return rebuilt
