"""Augmentation presets (flip, zoom, shift, shear, rotation) as Keras preprocessing layers."""

from __future__ import annotations

import keras

__all__ = ["PRESETS", "build_augmenter"]

# preset -> (rotation as a fraction of a full turn, zoom, shift, shear, contrast)
PRESETS: dict[str, tuple[float, float, float, float, float]] = {
    "light": (0.03, 0.1, 0.05, 0.0, 0.0),
    "classic": (20 / 360, 0.2, 0.2, 0.2, 0.0),  # the original design's ImageDataGenerator settings
    "strong": (30 / 360, 0.3, 0.2, 0.3, 0.3),
}


def build_augmenter(preset: str, *, seed: int | None = None, feature_maps: bool = False) -> keras.Sequential | None:
    """A model that augments uint8-range RGB batches, or ``None`` for the ``none`` preset.

    With ``feature_maps`` it augments activation maps ``(N, H, W, C)`` instead (augmentation in feature space:
    the fast recipe caches the activations at the fine-tuning cut once per image and makes the views there, so
    each view runs only the top block): flip, zoom and shift of the map, without the rotation, shear and
    contrast that a map of a few cells of non-colour channels cannot carry.
    """
    if preset == "none":
        return None
    if preset not in PRESETS:
        raise ValueError(f"Augmentation preset '{preset}' is unknown; use none, {', '.join(PRESETS)}.")
    rotation, zoom, shift, shear, contrast = (0.0, *PRESETS[preset][1:3], 0.0, 0.0) if feature_maps else PRESETS[preset]
    layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed))
    layers += [
        keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed),
        keras.layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed),
    ]
    if shear:
        layers.append(keras.layers.RandomShear(x_factor=shear, y_factor=shear, fill_mode="reflect", seed=seed))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(layers, name=f"{'feature_' if feature_maps else ''}augment_{preset}")
