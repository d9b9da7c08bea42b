"""Serializable layers that make a bundle self-contained (safe-mode loadable, no Lambda)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Preprocess"]

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="imgclf")
class Preprocess(keras.layers.Layer):
    """Map RGB pixels in [0, 255] to what a backbone expects ("caffe", "tf", "torch" or "none")."""

    def __init__(self, mode: str = "none", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf", "torch", "none"):
            raise ValueError(f"Preprocess mode '{mode}' is unknown; use caffe, tf, torch or none.")
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
