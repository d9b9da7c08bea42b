"""The pretrained ImageNet ResNet50 as an imgclf :class:`Classifier` (the app's mode before any training)."""

from __future__ import annotations

import json
from importlib import resources

from imgclf.engine.predictor import Classifier
from imgclf.models.build import build_classifier, build_head
from imgclf.models.registry import get_backbone
from imgclf.models.weights import WeightsError, resolve_weights

__all__ = ["IMAGENET_FEATURE_LAYER", "imagenet_classes", "imagenet_classifier"]

IMAGENET_FEATURE_LAYER = "conv5_block3_out"  # the last feature map of ResNet50, before its pooling and top


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names in output order (shipped in ``imgclf/assets/imagenet_labels.json``)."""
    text = resources.files("imgclf").joinpath("assets", "imagenet_labels.json").read_text(encoding="utf-8")
    labels = json.loads(text)
    return tuple(labels[str(i)] for i in range(len(labels)))


def _full_resnet50(source: str):
    """ResNet50 with its 1000-class top, with the weights from ``source`` (a file, or "imagenet" = download)."""
    spec = get_backbone("resnet50")
    builder_weights = "imagenet" if source == "imagenet" else None
    try:
        model = spec.builder(include_top=True, weights=builder_weights, input_shape=(224, 224, 3))
        if source != "imagenet":
            model.load_weights(source)
    except Exception as exc:
        raise WeightsError(
            f"Could not load the ImageNet ResNet50 weights from '{source}' ({type(exc).__name__}: {exc}). "
            f"Set IMGCLF_WEIGHTS to a '{spec.weights_file}' file (with its top), or go online once."
        ) from exc
    return model


def imagenet_classifier(*, jit_compile: bool = False) -> Classifier:
    """A :class:`Classifier` over the 1000 ImageNet classes, shaped like a trained run's model.

    The weights come from ``IMGCLF_WEIGHTS`` or the Keras download, as for training. The model is
    ``preprocess -> resnet50 (no top) -> pool -> head``, where the head's ``predictions`` layer holds
    ResNet50's own 1000-class top, so prediction and Grad-CAM work exactly as for a trained run.
    """
    import keras

    spec = get_backbone("resnet50")
    source, _ = resolve_weights(spec, "imagenet")
    full = _full_resnet50(str(source))
    backbone = keras.Model(full.inputs, full.get_layer(IMAGENET_FEATURE_LAYER).output, name=spec.name)
    top = full.get_layer("predictions")
    head = build_head(feature_dim=int(top.kernel.shape[0]), num_classes=int(top.units), units=(), dropout=0.0)
    head.get_layer("predictions").set_weights(top.get_weights())
    model = build_classifier(spec, backbone, head, input_size=spec.input_size)
    return Classifier(model, imagenet_classes(), spec=spec, input_size=spec.input_size, jit_compile=jit_compile)
