"""The OOD score separates a clearly different image set; the suspect ranking finds planted problems."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from imgclf.engine.ood import KnnOOD
from imgclf.evaluation.suspects import SuspectError, find_suspects


def _clusters(n_per_class: int, rng: np.random.Generator, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters on non-negative features (like pooled ReLU activations)."""
    centres = np.eye(3, dim) * 6 + 1
    labels = np.repeat(np.arange(3), n_per_class)
    return np.abs(centres[labels] + rng.normal(0, 0.6, (len(labels), dim))), labels


def test_knn_ood_separates_a_clearly_different_set():
    rng = np.random.default_rng(0)
    train, _ = _clusters(40, rng)
    inside, _ = _clusters(10, rng)
    outside = np.abs(rng.normal(0, 1, (30, 32)))  # no class direction at all
    ood = KnnOOD(train)
    scores_in, scores_out = ood.score(inside), ood.score(outside)
    auroc = roc_auc_score(np.r_[np.zeros(len(inside)), np.ones(len(outside))], np.r_[scores_in, scores_out])
    assert auroc > 0.99
    # With exclude_self a training image scored against the bank is not its own nearest neighbour.
    nearest = KnnOOD(train, k=1)
    assert nearest.score(train[:5]).max() < 1e-5 < nearest.score(train[:5], exclude_self=True).min()


def test_suspects_find_planted_label_errors_and_an_outlier():
    rng = np.random.default_rng(1)
    features, labels = _clusters(30, rng)
    flipped = np.array([3, 35, 70, 88])
    labels = labels.copy()
    labels[flipped] = (labels[flipped] + 1) % 3
    outlier = len(labels)
    features = np.vstack([features, np.abs(rng.normal(0, 1, (1, 32))) * 4])
    labels = np.r_[labels, 0]
    sources = [f"img_{i}.png" for i in range(len(labels))]
    suspects = find_suspects(features, labels, ["a", "b", "c"], sources, top=6)
    top = [s.source for s in suspects]
    assert {f"img_{i}.png" for i in [*flipped, outlier]} <= set(top)
    by_source = {s.source: s for s in suspects}
    for i in flipped:
        s = by_source[f"img_{i}.png"]
        assert s.suggested == "abc"[(labels[i] - 1) % 3] and s.given != s.suggested
        assert "mislabelled" in s.reason
    assert "out of place" in by_source[f"img_{outlier}.png"].reason
    assert suspects[-1].suspicion <= suspects[0].suspicion


def test_suspects_refuse_too_few_images():
    with pytest.raises(SuspectError, match=r"\[1, 3\]"):
        find_suspects(np.ones((4, 3)), [0, 1, 1, 1], ["a", "b"], list("wxyz"))
