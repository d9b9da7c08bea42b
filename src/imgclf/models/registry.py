"""The backbone registry: one frozen entry per backbone, so adding a backbone is adding one entry."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from imgclf.config import Config, ConfigError

if TYPE_CHECKING:
    import keras

__all__ = ["REGISTRY", "BackboneSpec", "get_backbone", "list_backbones", "resolve_input_size"]


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build, feed, explain and fine-tune one ``keras.applications`` backbone.

    ``builder_path`` names the model function (``module.attribute``); it is imported on first use of
    :attr:`builder`, so reading the registry never imports Keras or TensorFlow.

    ``preprocess`` is the pixel mapping of the model's ``preprocess`` layer ("caffe", "tf", "torch"; see
    :func:`imgclf.models.layers.preprocess_layer`), or "none" when the Keras model already preprocesses
    inside (EfficientNetV2, MobileNetV3).
    ``unfreeze_after`` names the last layer that stays frozen when fine-tuning: everything after it (the top
    block) is fine-tuned, and the fast recipe caches its activations so fine-tuning never re-runs the rest.
    ``gradcam_layer`` is the feature map Grad-CAM explains; ``None`` means the backbone's output.
    ``input_size`` is the size the ImageNet weights were trained at (ImageNet mode uses it). ``train_size`` is
    the default size for transfer learning where a larger one measured better, else ``None`` (= ``input_size``):
    like timm's ``test_input_size``, a fully convolutional backbone keeps small objects' features at a larger
    input. ResNet50 at 288 gains 1 to 1.5 points on hymenoptera (docs/BENCHMARKS.md). ``min_input_size`` is the
    smallest input the architecture accepts.
    """

    name: str
    builder_path: str
    input_size: int
    preprocess: str
    unfreeze_after: str
    gradcam_layer: str | None = None
    train_size: int | None = None
    min_input_size: int = 32
    extra_kwargs: tuple[tuple[str, object], ...] = ()

    @property
    def builder(self) -> Callable[..., keras.Model]:
        """The function that builds the backbone (e.g. ``keras.applications.ResNet50``)."""
        module, _, attribute = self.builder_path.rpartition(".")
        return getattr(importlib.import_module(module), attribute)

    @property
    def default_train_size(self) -> int:
        """The input size training uses when the configuration leaves ``input_size`` unset."""
        return self.train_size or self.input_size

    @property
    def weights_file(self) -> str:
        """File name looked up in an ``IMGCLF_WEIGHTS`` folder."""
        return f"{self.name}_imagenet.weights.h5"


_APPS = "keras.applications"
REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("resnet50", f"{_APPS}.ResNet50", 224, "caffe", "conv5_block2_out", train_size=288),
        BackboneSpec("resnet101", f"{_APPS}.ResNet101", 224, "caffe", "conv5_block2_out"),
        BackboneSpec("resnet152", f"{_APPS}.ResNet152", 224, "caffe", "conv5_block2_out"),
        BackboneSpec("resnet50v2", f"{_APPS}.ResNet50V2", 224, "tf", "conv5_block2_out"),
        BackboneSpec("inceptionv3", f"{_APPS}.InceptionV3", 299, "tf", "mixed9", min_input_size=75),
        BackboneSpec("efficientnetv2b0", f"{_APPS}.EfficientNetV2B0", 224, "none", "block5e_add"),
        BackboneSpec("mobilenetv3large", f"{_APPS}.MobileNetV3Large", 224, "none", "expanded_conv_11_add"),
        # No pretrained weights: tests and smoke runs.
        BackboneSpec("tinycnn", "imgclf.models.tiny.TinyCNN", 64, "tf", "block3_pool"),
    )
}


def get_backbone(name: str) -> BackboneSpec:
    """The registry entry for ``name``; an unknown name raises :class:`ConfigError` with a suggestion."""
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), REGISTRY, n=1)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"Unknown backbone '{name}'. {hint}Known: {', '.join(REGISTRY)}.") from None


def resolve_input_size(cfg: Config, spec: BackboneSpec) -> int:
    """The input size a run of ``cfg`` trains at: ``input_size``, else the backbone's training size.

    The one place that decides it (trainer and benchmarks call it); a size the backbone cannot take is refused.
    """
    size = cfg.input_size or spec.default_train_size
    if size < spec.min_input_size:
        raise ConfigError(
            f"input_size={size} is too small for {spec.name}, which needs at least {spec.min_input_size} pixels; "
            f"use {spec.min_input_size} or more, or leave input_size unset for {spec.default_train_size}."
        )
    return size


def list_backbones() -> list[BackboneSpec]:
    """Every registered backbone, in registry order."""
    return list(REGISTRY.values())
