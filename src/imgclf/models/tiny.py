"""A small CNN with the ``keras.applications`` builder signature, for smoke tests and quick CPU demos."""

from __future__ import annotations

import keras

__all__ = ["TinyCNN"]


def TinyCNN(
    *,
    include_top: bool = False,
    weights: str | None = None,
    input_shape: tuple[int, int, int] = (64, 64, 3),
    width: int = 16,
) -> keras.Model:
    """Four conv blocks, no pretrained weights; ``include_top`` must be False."""
    if include_top or weights not in (None, "none"):
        raise ValueError("TinyCNN has no classification top and no pretrained weights; use weights='none'.")
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for i, mult in enumerate((1, 2, 4, 8)):
        x = keras.layers.Conv2D(width * mult, 3, padding="same", name=f"block{i + 1}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block{i + 1}_bn")(x)
        x = keras.layers.Activation("relu", name=f"block{i + 1}_relu")(x)
        if i < 3:
            x = keras.layers.MaxPooling2D(name=f"block{i + 1}_pool")(x)
    return keras.Model(inputs, x, name="tinycnn")
