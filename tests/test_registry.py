"""Every registered backbone: builds, is explained by Grad-CAM, splits at its fine-tuning cut, fine-tunes its top."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from imgclf.config import ConfigError, load_config
from imgclf.engine.cached import pooled_from_activations, top_model
from imgclf.engine.explainer import GradCam
from imgclf.models.build import build_classifier, build_head, rebuild, set_finetune
from imgclf.models.registry import REGISTRY, get_backbone
from imgclf.models.weights import WeightsError, load_backbone, resolve_weights


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGISTRY))
def test_backbone_builds_splits_and_finetunes(name: str):
    spec = get_backbone(name)
    size = 96 if name != "tinycnn" else 64
    backbone, weights_id = load_backbone(spec, "none", size)
    assert weights_id == "none"
    model = build_classifier(
        spec,
        backbone,
        build_head(feature_dim=backbone.output.shape[-1], num_classes=3, units=(), dropout=0.1),
        input_size=size,
    )
    pixels = np.random.default_rng(0).integers(0, 256, (2, size, size, 3)).astype("float32")
    probs = np.asarray(model(pixels, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    # Training may run in mixed precision; the bundle is rebuilt in float32 with exactly the same weights.
    mixed = rebuild(model, spec, policy="mixed_bfloat16", head_units=(), dropout=0.1)
    assert mixed.get_layer("pool").compute_dtype == "bfloat16"
    back = rebuild(mixed, spec, policy="float32", head_units=(), dropout=0.1)
    assert all(layer.compute_dtype == "float32" for layer in back.layers)
    np.testing.assert_allclose(np.asarray(back(pixels, training=False)), probs, atol=1e-6)

    # Grad-CAM finds the registry's layer and explains with the model's own probabilities.
    explained = GradCam(model, spec)(pixels[0].astype(np.uint8))
    assert explained.heatmap.shape == (size, size) and np.isfinite(explained.heatmap).all()
    np.testing.assert_allclose(explained.probabilities, probs[0], atol=1e-4)

    unfrozen = set_finetune(backbone, spec, "default")
    assert unfrozen > 0
    bn = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert not any(layer.trainable for layer in bn)
    cut = [layer.name for layer in backbone.layers].index(spec.unfreeze_after)
    assert not any(layer.trainable and layer.weights for layer in backbone.layers[: cut + 1])

    # The cached fine-tuning path computes the same probabilities as the whole model.
    lower = keras.Model(backbone.input, backbone.get_layer(spec.unfreeze_after).output)
    acts = np.asarray(lower(model.get_layer("preprocess")(pixels), training=False))
    top = top_model(model, backbone, spec)
    np.testing.assert_allclose(np.asarray(top(acts, training=False)), probs, atol=1e-4)
    pooled = pooled_from_activations(model, backbone, spec, acts)
    assert pooled.shape == (2, backbone.output.shape[-1])


def test_unknown_backbone_gets_a_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'resnet50'"):
        get_backbone("resnet5")


def test_unknown_setting_gets_a_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'dropout'"):
        load_config(overrides={"dropuot": 0.3})


def test_classic_recipe_implies_the_original_settings_unless_overridden():
    classic = load_config(overrides={"recipe": "classic"})
    assert (classic.cache_views, classic.phase1_epochs, classic.phase2_epochs) == (0, 10, 10)
    assert (classic.input_size, classic.mixed_precision) == (224, False)  # the original design's 224 x 224, float32
    assert load_config(overrides={"recipe": "classic", "phase2_epochs": 2}).phase2_epochs == 2


@pytest.mark.parametrize("bad", [{"split": [0.5, 0.5, 0.5]}, {"augment": "wild"}, {"batch_size": 0}])
def test_invalid_values_are_refused(bad: dict):
    with pytest.raises(ConfigError, match=str(next(iter(bad)))):
        load_config(overrides=bad)


def test_weights_resolution(tmp_path, monkeypatch: pytest.MonkeyPatch):
    spec = get_backbone("resnet50")
    with pytest.raises(WeightsError, match="neither 'imagenet', 'none' nor an existing file"):
        resolve_weights(spec, str(tmp_path / "missing.h5"))
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / spec.weights_file).write_bytes(b"weights")
    monkeypatch.setenv("IMGCLF_WEIGHTS", str(folder))
    source, weights_id = resolve_weights(spec, "imagenet")
    assert source == str((folder / spec.weights_file).resolve()) and weights_id.startswith("file:")
    monkeypatch.setenv("IMGCLF_WEIGHTS", str(tmp_path / "nowhere.h5"))
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights(spec, "imagenet")


def test_weights_file_for_another_backbone_is_refused_clearly(tmp_path):
    spec = get_backbone("tinycnn")
    path = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)
    with pytest.raises(WeightsError, match="does not fit backbone 'tinycnn'"):
        load_backbone(spec, str(path), 64)


@pytest.mark.parametrize(("flag", "expected"), [([], "auto"), (["--mixed-precision", "off"], False)])
def test_mixed_precision_defaults_to_auto_and_can_be_turned_off(flag: list[str], expected):
    from imgclf.cli.commands.train import config_overrides
    from imgclf.cli.main import build_parser

    args = build_parser().parse_args(["train", "data", *flag])
    assert load_config(overrides=config_overrides(args)).mixed_precision == expected
