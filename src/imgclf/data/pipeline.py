"""``tf.data`` input pipelines over the shared decoder: parallel decode, batching, prefetch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from imgclf.data.decode import DEFAULT_MAX_PIXELS, decode_image

__all__ = ["image_dataset"]


def image_dataset(
    paths: Sequence[Path],
    labels: Sequence[int] | None,
    *,
    size: int,
    batch_size: int,
    num_classes: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    augmenter: keras.Model | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tf.data.Dataset:
    """Batches of float32 RGB pixels in [0, 255] (and one-hot labels when ``labels`` is given)."""

    def _decode(path: bytes) -> np.ndarray:
        return decode_image(path.decode("utf-8"), size, max_pixels=max_pixels)

    def _load(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(_decode, [path], tf.uint8, stateful=False)
        image.set_shape((size, size, 3))
        return tf.cast(image, tf.float32)

    ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    if labels is not None:
        onehot = keras.utils.to_categorical(np.asarray(labels), num_classes).astype("float32")
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(onehot))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if labels is None:
        ds = ds.map(_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda p, y: (_load(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    if augmenter is not None:
        if labels is None:
            ds = ds.map(lambda x: augmenter(x, training=True), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
