"""Grad-CAM: which part of an image drove a prediction, in one compiled forward/backward pass.

The classifier is ``image -> preprocess -> backbone -> pool -> head``. Grad-CAM explains the backbone's
feature map named by the registry (``BackboneSpec.gradcam_layer``; ``None`` = the backbone's output): the
gradient of the class logit with respect to that map, averaged per channel, weights the channels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from imgclf.engine.predictor import Classifier, ImageInput, load, to_pixels
from imgclf.models.registry import REGISTRY, BackboneSpec

__all__ = ["Explanation", "GradCam", "explain", "heatmap_peak", "overlay"]


@dataclasses.dataclass(frozen=True)
class Explanation:
    """One Grad-CAM pass: the heat map and the forward outputs it came with (no second forward needed)."""

    heatmap: np.ndarray  # (input_size, input_size) float32 in [0, 1]
    class_index: int
    features: np.ndarray  # pooled backbone features, (feature_dim,)
    probabilities: np.ndarray  # raw (uncalibrated) class probabilities, (num_classes,)


def _backbone_layer(model: keras.Model) -> keras.Model:
    """The nested backbone: the layer fed by ``preprocess`` (the one Functional model that is not the head)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name != "head":
            return layer
    raise ValueError(f"Model '{model.name}' has no nested backbone; Grad-CAM needs a model from imgclf.")


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _gradcam_layer_name(backbone: keras.Model, spec: BackboneSpec | None) -> str | None:
    """The registry's Grad-CAM layer for ``backbone`` (found by name when ``spec`` is None); None = output."""
    if spec is None:
        spec = next((s for s in REGISTRY.values() if _squash(s.name) == _squash(backbone.name)), None)
    name = spec.gradcam_layer if spec is not None else None
    if name is not None and name not in {layer.name for layer in backbone.layers}:
        raise ValueError(f"Grad-CAM layer '{name}' of the registry is not in backbone '{backbone.name}'.")
    return name


class GradCam:
    """Grad-CAM for one classifier model, traced once; call it on ``(size, size, 3)`` uint8 pixels.

    ``spec`` is the model's registry entry; by default it is found from the nested backbone's name.
    ``jit_compile`` compiles the backbone's forward pass with XLA (a few seconds once): faster, and unaffected by
    the Keras session reset Streamlit performs after every script run. The app turns it on.
    """

    def __init__(self, model: keras.Model, spec: BackboneSpec | None = None, *, jit_compile: bool = False):
        import tensorflow as tf

        self.input_size = int(model.inputs[0].shape[1])
        backbone = _backbone_layer(model)
        name = _gradcam_layer_name(backbone, spec)
        self._split = name is not None
        outputs = [backbone.get_layer(name).output, backbone.output] if self._split else backbone.output
        self._backbone = keras.Model(backbone.inputs, outputs, name="gradcam_backbone")
        self._preprocess = model.get_layer("preprocess")
        self._pool = model.get_layer("pool")
        self._head = model.get_layer("head")
        pixels = tf.TensorSpec((1, self.input_size, self.input_size, 3), tf.float32)
        index = tf.TensorSpec((), tf.int32)
        if self._split:
            self._step = tf.function(self._compute, input_signature=[pixels, index])
        else:
            # The explained map is the backbone's output, so the gradient only flows through pooling and the
            # head: run the backbone forward alone (XLA-compiled when asked, which also survives Streamlit's
            # per-rerun Keras session reset) and differentiate the small head graph on its output.
            self._features = tf.function(
                lambda x: self._backbone(self._preprocess(x), training=False), jit_compile=jit_compile
            )
            conv = tf.TensorSpec((1, *self._backbone.output.shape[1:]), self._backbone.output.dtype)
            self._head_step = tf.function(self._cam_from_map, input_signature=[conv, index])
            self._step = lambda batch, class_index: self._head_step(self._features(batch), class_index)
        self(np.zeros((self.input_size, self.input_size, 3), np.uint8))  # trace and warm up now

    def _logits(self, pooled):
        """The head's pre-softmax scores (a saturated softmax would give vanishing gradients)."""
        x = pooled
        for layer in self._head.layers[:-1]:
            x = layer(x, training=False)
        dense = self._head.layers[-1]
        x = keras.ops.cast(x, "float32")
        return keras.ops.matmul(x, keras.ops.cast(dense.kernel, "float32")) + keras.ops.cast(dense.bias, "float32")

    def _compute(self, pixels, class_index):
        """Grad-CAM of a layer inside the backbone: one forward/backward pass through its top."""
        import tensorflow as tf

        x = self._preprocess(pixels)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            conv, top = self._backbone(x, training=False)
            pooled = self._pool(top)
            logits = self._logits(pooled)
            index = tf.where(class_index < 0, tf.argmax(logits[0], output_type=tf.int32), class_index)
            score = logits[0, index]
        return self._cam(tape.gradient(score, conv), conv, index, pooled, logits)

    def _cam_from_map(self, conv, class_index):
        """Grad-CAM of the backbone's output map: differentiate pooling and the head only."""
        import tensorflow as tf

        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(conv)
            pooled = self._pool(conv)
            logits = self._logits(pooled)
            index = tf.where(class_index < 0, tf.argmax(logits[0], output_type=tf.int32), class_index)
            score = logits[0, index]
        return self._cam(tape.gradient(score, conv), conv, index, pooled, logits)

    def _cam(self, grads, conv, index, pooled, logits):
        import tensorflow as tf

        grads, conv = tf.cast(grads, tf.float32), tf.cast(conv, tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * conv, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, (self.input_size, self.input_size), method="bilinear")[0, :, :, 0]
        cam = tf.math.divide_no_nan(cam, tf.reduce_max(cam))
        return cam, index, tf.cast(pooled[0], tf.float32), tf.nn.softmax(logits[0])

    def __call__(self, pixels: np.ndarray, class_index: int | None = None) -> Explanation:
        """Explain ``class_index`` (default: the predicted class) for one ``(size, size, 3)`` uint8 image."""
        if pixels.shape != (self.input_size, self.input_size, 3):
            raise ValueError(f"Grad-CAM needs ({self.input_size}, {self.input_size}, 3) pixels, got {pixels.shape}.")
        batch = np.asarray(pixels, dtype=np.float32)[None]
        cam, index, features, probs = self._step(batch, np.int32(-1 if class_index is None else class_index))
        return Explanation(np.asarray(cam), int(index), np.asarray(features), np.asarray(probs))


def _classifier_parts(
    model_or_run: Classifier | keras.Model | str | Path,
) -> tuple[keras.Model, BackboneSpec | None, tuple[str, ...]]:
    if isinstance(model_or_run, keras.Model):
        return model_or_run, None, ()
    clf = model_or_run if isinstance(model_or_run, Classifier) else load(model_or_run)
    return clf.model, clf.spec, clf.classes


def explain(
    model_or_run: Classifier | keras.Model | str | Path, image: ImageInput, class_index: int | None = None
) -> np.ndarray:
    """Grad-CAM heat map in [0, 1], ``(input_size, input_size)``, for ``image`` and ``class_index``.

    ``model_or_run`` is a :class:`Classifier`, an imgclf Keras model or a run folder; ``class_index``
    defaults to the predicted class. For many images, build one :class:`GradCam` and reuse it.
    """
    model, spec, classes = _classifier_parts(model_or_run)
    num_classes = int(model.outputs[0].shape[-1])
    if class_index is not None and not 0 <= class_index < num_classes:
        names = f" ({', '.join(classes)})" if classes and len(classes) <= 20 else ""
        raise ValueError(f"class_index={class_index} is out of range; the model has {num_classes} classes{names}.")
    cam = GradCam(model, spec)
    return cam(to_pixels(image, cam.input_size), class_index).heatmap


def overlay(image: Image.Image | np.ndarray, heatmap: np.ndarray, opacity: float = 0.5) -> Image.Image:
    """``image`` with ``heatmap`` drawn over it in the "jet" colour map at ``opacity`` (0 = image only)."""
    from matplotlib import colormaps

    base = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    base = base.convert("RGB")
    heat = Image.fromarray(np.uint8(np.clip(heatmap, 0, 1) * 255)).resize(base.size, Image.Resampling.BILINEAR)
    colored = colormaps["jet"](np.asarray(heat, dtype=np.float32) / 255.0)[..., :3]
    blend = Image.fromarray(np.uint8(colored * 255))
    return Image.blend(base, blend, float(np.clip(opacity, 0.0, 1.0)))


def heatmap_peak(heatmap: np.ndarray) -> tuple[float, float]:
    """Where the heat map is hottest, as ``(x, y)`` fractions of its width and height (pixel centres)."""
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    height, width = heatmap.shape
    return (col + 0.5) / width, (row + 0.5) / height
