"""Rank training images that are likely mislabelled or belong to no class.

Two signals on the training embeddings: confident learning (cleanlab's label-quality score on out-of-sample
probabilities from a cross-validated logistic regression) and the k-NN distance of each image to the *other*
training images (a robust z-score squashed to 0..1). Each gives a 0..1 suspicion; an image is ranked by the
larger of the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from imgclf.data.layout import discover
from imgclf.engine.ood import KnnOOD
from imgclf.engine.predictor import load
from imgclf.engine.run import Run
from imgclf.errors import ImgclfError
from imgclf.evaluation.inputs import embed, labelled_split

__all__ = ["Suspect", "SuspectError", "find_suspects", "out_of_sample_probs", "outlier_scores", "rank_run_suspects"]

MAX_FOLDS = 5
OUTLIER_Z = 3.0


class SuspectError(ImgclfError, ValueError):
    """The labelled set is too small to rank suspects."""


@dataclasses.dataclass(frozen=True)
class Suspect:
    """One training image with its given and suggested labels and why it looks wrong."""

    source: str
    given: str
    suggested: str
    suggested_probability: float
    label_quality: float
    outlier_score: float
    suspicion: float
    reason: str

    def to_row(self) -> dict[str, object]:
        """A flat dict for CSV / JSON output."""
        row = dataclasses.asdict(self)
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def out_of_sample_probs(features: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """Class probabilities for each row from a logistic regression that never saw that row (k-fold CV)."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        raise SuspectError(
            f"Ranking suspects needs at least 2 images in each of at least 2 classes; got counts {counts.tolist()}. "
            "Add images or skip the suspect check."
        )
    folds = StratifiedKFold(n_splits=int(min(MAX_FOLDS, present.min())), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    probs = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")
    full = np.zeros((len(labels), n_classes))
    full[:, np.flatnonzero(counts)] = probs  # classes absent from the set get probability 0
    return full


def outlier_scores(distance: np.ndarray) -> np.ndarray:
    """0..1 from k-NN distances: a logistic of the robust z-score (median / MAD), 0.5 at z = 3."""
    median = np.median(distance)
    mad = 1.4826 * np.median(np.abs(distance - median))
    z = (distance - median) / max(mad, 1e-6)
    return 1.0 / (1.0 + np.exp(-(z - OUTLIER_Z)))


def _reason(label_suspicion: float, outlier: float) -> str:
    if outlier >= label_suspicion:
        return "unlike the other training images (out of place?)"
    return "the model thinks it belongs to another class (mislabelled?)"


def find_suspects(
    features: np.ndarray,
    labels: Sequence[int],
    classes: Sequence[str],
    sources: Sequence[str],
    *,
    top: int | None = 20,
    seed: int = 0,
) -> list[Suspect]:
    """Rank the labelled images by suspicion, most suspect first (``top`` of them; ``None`` for all)."""
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=int)
    probs = out_of_sample_probs(features, labels, len(classes), seed)
    quality = get_label_quality_scores(labels, probs)
    distance = KnnOOD(features).score(features, exclude_self=True)
    outlier = outlier_scores(distance)
    suspicion = np.maximum(1.0 - quality, outlier)
    order = np.argsort(-suspicion, kind="stable")[: top if top is not None else len(labels)]
    return [
        Suspect(
            source=str(sources[i]),
            given=classes[labels[i]],
            suggested=classes[int(probs[i].argmax())],
            suggested_probability=float(probs[i].max()),
            label_quality=float(quality[i]),
            outlier_score=float(outlier[i]),
            suspicion=float(suspicion[i]),
            reason=_reason(1.0 - quality[i], outlier[i]),
        )
        for i in order
    ]


def rank_run_suspects(run_dir: str | Path, *, data: str | Path | None = None, top: int | None = 20) -> list[Suspect]:
    """Suspects among a run's training images, or among every image of the dataset ``data``.

    Embeddings come from the run's model; the labels (and classes) are those of the images ranked.
    """
    clf = load(run_dir)
    if data is None:
        classes = list(clf.classes)
        pairs = labelled_split(Run.open(clf.run_dir), "train", classes)
    else:
        layout = discover(data, runs=clf.run_dir.parent)
        classes = list(layout.classes)
        pairs = [(s.path, classes.index(s.label)) for s in layout.samples]
    embedded = embed(clf, pairs)
    return find_suspects(embedded.features, embedded.labels, classes, embedded.sources, top=top)
