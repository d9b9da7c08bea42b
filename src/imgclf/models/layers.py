"""The preprocessing step of a classifier: pixels in [0, 255] to what a backbone expects.

New models use Keras' own layers (:func:`preprocess_layer`), so a saved ``model.keras`` loads with plain
Keras 3 and exports with Keras' exporters. :class:`Preprocess` is the custom layer older runs were saved with;
it stays registered so those runs keep loading through imgclf.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["PREPROCESS_MODES", "Preprocess", "preprocess_layer"]

PREPROCESS_MODES = ("caffe", "tf", "torch", "none")
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def _check_mode(mode: str) -> None:
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"Preprocess mode '{mode}' is unknown; use {', '.join(PREPROCESS_MODES)}.")


def _caffe_layer(name: str) -> keras.layers.Conv2D:
    """RGB -> BGR and mean subtraction as a frozen 1x1 convolution (a 0/1 permutation kernel: exact)."""
    layer = keras.layers.Conv2D(3, 1, name=name, dtype="float32", trainable=False)
    layer.build((None, None, None, 3))
    swap = np.eye(3, dtype=np.float32)[::-1].reshape(1, 1, 3, 3)  # input channel c feeds output channel 2 - c
    layer.set_weights([swap, -np.asarray(_CAFFE_MEAN_BGR, np.float32)])
    return layer


def preprocess_layer(mode: str, *, name: str = "preprocess") -> keras.layers.Layer:
    """A Keras built-in layer that maps RGB pixels in [0, 255] as ``mode`` says, computing in float32.

    "tf": ``x / 127.5 - 1``; "torch": ``(x / 255 - mean) / std`` (ImageNet statistics); "caffe": RGB -> BGR
    minus the ImageNet BGR mean; "none": unchanged (the backbone preprocesses inside).
    """
    _check_mode(mode)
    if mode == "caffe":
        return _caffe_layer(name)
    if mode == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=name, dtype="float32")
    if mode == "torch":
        mean = [255.0 * m for m in _TORCH_MEAN]
        variance = [(255.0 * s) ** 2 for s in _TORCH_STD]
        return keras.layers.Normalization(mean=mean, variance=variance, name=name, dtype="float32")
    return keras.layers.Identity(name=name, dtype="float32")


@keras.saving.register_keras_serializable(package="imgclf")
class Preprocess(keras.layers.Layer):
    """The custom layer of runs saved before :func:`preprocess_layer`; kept so they load through imgclf."""

    def __init__(self, mode: str = "none", **kwargs):
        super().__init__(**kwargs)
        _check_mode(mode)
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.mode == "caffe":
            return x[..., ::-1] - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype="float32")
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype="float32")
            std = ops.convert_to_tensor(_TORCH_STD, dtype="float32")
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
