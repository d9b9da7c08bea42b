"""Grad-CAM: a model that must look at a known patch puts its heat-map peak inside that patch."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import imgclf
from imgclf.cli.main import main
from imgclf.engine.explainer import GradCam, heatmap_peak, overlay
from imgclf.models.build import build_classifier, build_head
from imgclf.models.registry import get_backbone
from imgclf.models.weights import load_backbone

SIZE = 64
PATCH = (36, 12, 56, 32)  # x0, y0, x1, y1: the only place that tells the classes apart
CLASS_COLOURS = ((230, 30, 30), (30, 30, 230))


def patch_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images with a green distractor square; the class is the colour of the square at ``PATCH``."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, SIZE, SIZE, 3)).astype(np.uint8)
    y = rng.integers(0, 2, n)
    x0, y0, x1, y1 = PATCH
    for i in range(n):
        dx, dy = rng.integers(0, 20), rng.integers(36, 44)
        x[i, dy : dy + 20, dx : dx + 20] = (0, 200, 0)
        x[i, y0:y1, x0:x1] = CLASS_COLOURS[y[i]]
    return x, y


def tiny_model(num_classes: int, size: int = SIZE, name: str = "tinycnn") -> keras.Model:
    spec = get_backbone(name)
    backbone, _ = load_backbone(spec, "none", size)
    head = build_head(feature_dim=int(backbone.output.shape[-1]), num_classes=num_classes, units=(), dropout=0.0)
    return build_classifier(spec, backbone, head, input_size=size)


@pytest.fixture(scope="module")
def patch_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = tiny_model(2)
    x, y = patch_images(240, seed=0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def patch_run(patch_model: keras.Model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "patch"
    run.mkdir()
    patch_model.save(run / "model.keras")
    (run / "labels.json").write_text(json.dumps({"classes": ["red", "blue"]}))
    (run / "meta.json").write_text(json.dumps({"backbone": "tinycnn", "input_size": SIZE, "complete": True}))
    (run / "config.yaml").write_text("backbone: tinycnn\n")
    (run / "history.csv").write_text("phase,epoch,loss,accuracy,val_loss,val_accuracy,lr\n")
    return run


def test_heatmap_peak_lies_inside_the_deciding_patch(patch_model: keras.Model) -> None:
    cam = GradCam(patch_model)
    x, y = patch_images(20, seed=1)
    x0, y0, x1, y1 = PATCH
    inside = 0
    for pixels, label in zip(x, y, strict=True):
        result = cam(pixels)
        assert result.class_index == label  # the model learned the task
        px, py = heatmap_peak(result.heatmap)
        inside += x0 <= px * SIZE < x1 and y0 <= py * SIZE < y1
    assert inside >= 19


def test_one_pass_gives_the_model_outputs_and_honours_class_index(patch_model: keras.Model) -> None:
    cam = GradCam(patch_model)
    x, _ = patch_images(3, seed=2)
    expected = patch_model.predict(x.astype(np.float32), verbose=0)
    for pixels, probs in zip(x, expected, strict=True):
        result = cam(pixels)
        np.testing.assert_allclose(result.probabilities, probs, atol=1e-5)
        assert result.heatmap.shape == (SIZE, SIZE)
        assert result.heatmap.min() >= 0.0 and result.heatmap.max() == pytest.approx(1.0)
        other = 1 - result.class_index
        assert cam(pixels, other).class_index == other


def test_explain_accepts_a_run_folder_and_checks_the_class(patch_run: Path) -> None:
    x, _ = patch_images(1, seed=3)
    heat = imgclf.explain(patch_run, x[0])
    assert heat.shape == (SIZE, SIZE)
    assert heat.dtype == np.float32
    x0, y0, x1, y1 = PATCH
    px, py = heatmap_peak(heat)
    assert x0 <= px * SIZE < x1 and y0 <= py * SIZE < y1
    with pytest.raises(ValueError, match=r"class_index=5 is out of range.*red, blue"):
        imgclf.explain(imgclf.load(patch_run), x[0], class_index=5)


def test_cli_writes_an_overlay_at_the_image_size(patch_run: Path, tmp_path: Path, capsys) -> None:
    x, _ = patch_images(1, seed=4)
    image = tmp_path / "in.png"
    Image.fromarray(x[0]).resize((128, 96)).save(image)
    out = tmp_path / "overlay.png"
    assert main(["explain", str(patch_run), str(image), "--out", str(out)]) == 0
    assert Image.open(out).size == (128, 96)
    assert "heat peaks at" in capsys.readouterr().out
    assert main(["explain", str(patch_run), str(image), "--class", "purple"]) == 2
    assert "'purple' is not a class" in capsys.readouterr().err


def test_overlay_and_peak() -> None:
    image = Image.new("RGB", (40, 20), (10, 200, 30))
    heat = np.zeros((8, 8), np.float32)
    heat[2, 6] = 1.0
    assert heatmap_peak(heat) == (6.5 / 8, 2.5 / 8)
    assert np.array_equal(np.asarray(overlay(image, heat, 0.0)), np.asarray(image))
    blended = overlay(image, heat, 0.6)
    assert blended.size == image.size
    assert not np.array_equal(np.asarray(blended), np.asarray(image))
