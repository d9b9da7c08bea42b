"""Augmentation in feature space (views of the cached cut activations) and the phase-2 keep decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import make_dataset
from imgclf.config import load_config
from imgclf.engine.augment import build_augmenter
from imgclf.engine.cached import cached_inputs
from imgclf.engine.phases import keeps_finetuning
from imgclf.engine.run import Run
from imgclf.engine.trainer import prepare

TINY = {"backbone": "tinycnn", "weights": "none", "phase1_epochs": 2, "phase2_epochs": 1, "cache_views": 0}


def _row(loss: float, accuracy: float) -> dict:
    return {"phase": 2, "val_loss": loss, "val_accuracy": accuracy}


@pytest.mark.parametrize(
    ("rows", "kept"),
    [
        ([_row(0.30, 0.90), _row(0.25, 0.95)], True),  # one more image right, lower loss
        ([_row(0.45, 0.95)], True),  # one more image right at a higher loss: accuracy decides
        ([_row(0.35, 0.90)], True),  # as many right, lower loss
        ([_row(0.41, 0.90)], False),  # as many right, higher loss
        ([_row(0.20, 0.85)], False),  # lower loss, but one image fewer right
        ([_row(0.30, 0.951), _row(0.50, 1.0)], True),  # the kept epoch is the lowest-loss one
    ],
)
def test_finetuning_is_kept_when_it_gets_more_images_right_or_as_many_at_lower_loss(rows: list, kept: bool):
    assert keeps_finetuning(0.40, 0.90, rows, n_val=20) is kept


def test_finetuning_gain_below_one_image_counts_as_none():
    # 0.9 -> 0.9049 on 20 images is a rounding difference, not an image: the loss decides.
    assert keeps_finetuning(0.40, 0.90, [_row(0.45, 0.9049)], n_val=20) is False


def test_feature_augmenter_changes_maps_in_training_only():
    maps = np.random.default_rng(0).random((4, 6, 6, 16)).astype("float32")
    augmenter = build_augmenter("classic", seed=0, feature_maps=True)
    assert not np.allclose(np.asarray(augmenter(maps, training=True)), maps)
    np.testing.assert_array_equal(np.asarray(augmenter(maps, training=False)), maps)
    assert build_augmenter("none", feature_maps=True) is None


def _inputs(tmp_path: Path, **overrides):
    cfg = load_config(overrides={**TINY, **overrides})
    prep = prepare(make_dataset(tmp_path / "data"), cfg, lambda event: None)
    run = Run(tmp_path / "run.partial")
    run.checkpoints.mkdir(parents=True)
    return cached_inputs(prep.model, prep.backbone, prep.context(cfg, run, lambda event: None)), prep


def test_feature_views_follow_the_clean_view_of_each_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(tmp_path / "cache"))
    cached, prep = _inputs(tmp_path, feature_views=3)
    pooled = np.asarray(cached.pooled["train"], np.float32)
    assert pooled.shape[:2] == (len(prep.data.train), 1 + 3)
    assert cached.activations["train"].shape[1] == 1  # one full forward pass per training image
    assert cached.pooled["val"].shape[1] == 1  # validation stays clean
    views = pooled[:, 1:]
    assert not np.allclose(views, pooled[:, :1])  # augmented...
    assert not np.allclose(views[:, 0], views[:, 1])  # ...differently per view...
    # ...but still views of their image: nearer its clean features than other images' clean features.
    clean = pooled[:, 0]
    distance = np.linalg.norm(views[:, :, None, :] - clean[None, None, :, :], axis=-1)  # (image, view, other)
    own = np.stack([distance[i, :, i] for i in range(len(clean))])
    assert own.mean() < distance.mean()


def test_feature_views_without_fine_tuning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(tmp_path / "cache"))
    cached, _ = _inputs(tmp_path, feature_views=2, phase2_epochs=0)
    assert cached.pooled["train"].shape[1] == 3  # the cut activations are still taken, for the views


def test_no_feature_views_without_augmentation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(tmp_path / "cache"))
    cached, _ = _inputs(tmp_path, feature_views=3, augment="none")
    assert cached.pooled["train"].shape[1] == 1
