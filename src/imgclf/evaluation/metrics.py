"""Classification metrics from scikit-learn, gathered into one JSON-friendly dict, and a terminal table."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = ["classification_metrics", "format_table", "normalize_rows"]

TOP_K = (3, 5)


def normalize_rows(probs: np.ndarray) -> np.ndarray:
    """Probabilities as float64 rows that sum to exactly 1 (float32 softmax outputs drift slightly)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)


def _roc_auc(y_true: np.ndarray, probs: np.ndarray) -> tuple[float | None, dict[int, float]]:
    """Macro one-vs-rest ROC-AUC and per-class AUC (classes with no positive or negative are skipped)."""
    per_class = {}
    for c in range(probs.shape[1]):
        positives = y_true == c
        if 0 < positives.sum() < len(y_true):
            per_class[c] = float(skm.roc_auc_score(positives, probs[:, c]))
    present = np.unique(y_true)
    if len(present) < probs.shape[1]:
        return None, per_class
    if probs.shape[1] == 2:
        return float(skm.roc_auc_score(y_true, probs[:, 1])), per_class
    return float(skm.roc_auc_score(y_true, probs, multi_class="ovr", labels=np.arange(probs.shape[1]))), per_class


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (sklearn warns when ``y_pred`` has others)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(skm.balanced_accuracy_score(y_true, y_pred))


def classification_metrics(y_true: Sequence[int], probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Loss, accuracy, balanced accuracy, F1, per-class scores, confusion matrices, top-k and ROC-AUC.

    ``y_true`` holds class indices into ``classes``; ``probs`` is ``(n, len(classes))``. The one-vs-rest
    ROC-AUC is ``None`` when a class is absent from ``y_true`` (per-class AUCs are kept for the others).
    """
    y_true = np.asarray(y_true, dtype=int)
    probs = normalize_rows(probs)
    labels = np.arange(len(classes))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    rows = cm.sum(axis=1, keepdims=True)
    auc, auc_per_class = _roc_auc(y_true, probs)
    return {
        "n": len(y_true),
        "loss": float(skm.log_loss(y_true, probs, labels=labels)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "f1_macro": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "f1_weighted": float(skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "top_k_accuracy": {
            str(k): float(skm.top_k_accuracy_score(y_true, probs, k=k, labels=labels))
            for k in TOP_K
            if len(classes) > 5 and k < len(classes)
        },
        "roc_auc_ovr": auc,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "roc_auc": auc_per_class.get(i),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0).round(4).tolist(),
    }


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def format_table(metrics: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """A plain-text summary: headline metrics (plus ``extra`` rows), then one row per class."""
    head = ["loss", "accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"]
    rows = [(name, metrics[name]) for name in head]
    rows += [(f"top_{k}_accuracy", v) for k, v in metrics["top_k_accuracy"].items()]
    rows += list((extra or {}).items())
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {_fmt(value)}" for name, value in rows]
    cwidth = max(8, *(len(c) for c in metrics["per_class"]))
    lines += ["", f"{'class':<{cwidth}}  precision  recall     f1         support"]
    for name, s in metrics["per_class"].items():
        lines.append(f"{name:<{cwidth}}  {s['precision']:<9.4f}  {s['recall']:<9.4f}  {s['f1']:<9.4f}  {s['support']}")
    return "\n".join(lines)
