"""``evaluate(run)``: metrics, calibration, thresholds, OOD, suspects, plots and the report of a finished run.

Temperature, confidence threshold and OOD threshold are fitted on the validation split and written to the
run's ``calibration.json``, which every prediction path applies. Everything else goes to ``run/eval/``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from imgclf.data.layout import DatasetError
from imgclf.engine.ood import KnnOOD
from imgclf.engine.precision_check import ParityCheck, ParityMeter, choose_precision, head_settings
from imgclf.engine.predictor import Classifier, load
from imgclf.engine.run import BundleError, Run
from imgclf.evaluation.calibration import nll, reliability
from imgclf.evaluation.evidence import Evidence, Outside
from imgclf.evaluation.figures import draw_all
from imgclf.evaluation.fitting import FALSE_UNFAMILIAR_RATE, fit_policy, split_calibration
from imgclf.evaluation.inputs import Embedded, embed, embed_pixels, labelled_split, load_outside, resolve_eval_data
from imgclf.evaluation.metrics import classification_metrics, format_table
from imgclf.evaluation.report import write_report
from imgclf.evaluation.suspects import Suspect, SuspectError, find_suspects
from imgclf.evaluation.thresholds import selective_scores
from imgclf.models.build import resolve_precision

__all__ = ["EvalResult", "evaluate"]

HELD_OUT_VAL = "val (held-out half)"
SET_LEVELS = (0.8, 0.9, 0.95)
SUSPECTS_KEPT = 30


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` measured and wrote (``metrics`` is the content of ``eval/metrics.json``)."""

    run_dir: Path
    eval_dir: Path
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    suspects: tuple[Suspect, ...]
    plots: dict[str, Path]
    report: Path | None

    def summary(self) -> str:
        """The terminal table: headline metrics, calibration, threshold, OOD, then one row per class."""
        m, cal = self.metrics, self.calibration
        extra = {
            "evaluated_on": f"{m['evaluated_on']} ({m['test']['n']} images)",
            "ece_before_calibration": m["calibration"]["ece_before"],
            "ece_after_calibration": m["calibration"]["ece_after"],
            "temperature": cal["temperature"],
            "threshold": f"{cal['threshold']:.4f} (val coverage {cal['threshold_coverage']:.1%}, "
            f"accuracy {cal['threshold_accuracy']:.1%}, target {cal['target_accuracy']:.1%})",
            "test_coverage_at_threshold": m["threshold"]["test_coverage"],
            "test_accuracy_at_threshold": m["threshold"]["test_accuracy"],
            "ood_auroc_knn": m["ood"]["auroc"],
            "ood_auroc_softmax": m["ood"]["softmax_auroc"],
            **{
                f"sets_{s['level']:.0%}": f"coverage {s['coverage']:.1%}, mean size {s['mean_size']:.2f}"
                for s in m.get("sets", [])
            },
        }
        if "inference_precision" in m:
            extra["inference_precision"] = m["inference_precision"]["reason"]
        return format_table(m["test"], extra)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _refresh_features(run: Run, train: Embedded) -> str:
    """Make the run's embeddings those of the final model's train images (fine-tuning changes the backbone)."""
    try:
        old = run.features()
    except BundleError:
        old = None  # damaged: rewritten below
    same_shape = old is not None and old.shape == train.features.shape
    if same_shape and float((_unit(old) * _unit(train.features)).sum(1).min()) > 0.999:
        return "The stored training embeddings were already the final model's."
    run.write_features(train.features, train.labels, train.sources)
    return "The training embeddings (used by the OOD score) were rewritten with the final model's."


def _auroc(inside: np.ndarray, outside: np.ndarray) -> float | None:
    """AUROC of a score that should be higher for outside images; ``None`` without both kinds."""
    if not len(inside) or not len(outside):
        return None
    truth = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    return float(roc_auc_score(truth, np.r_[inside, outside]))


def _outside(clf: Classifier, images: Sequence[tuple[str, np.ndarray]], bank: KnnOOD, policy) -> Outside:
    pixels = np.stack([px for _, px in images])
    feats, raw = embed_pixels(clf, pixels)
    return Outside(tuple(name for name, _ in images), pixels, policy.calibrate(raw), bank.score(feats))


def _history_summary(history: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """Per phase: epochs run, best validation accuracy and the last validation loss."""
    out: list[dict[str, Any]] = []
    for phase in dict.fromkeys(row.get("phase", "") for row in history):
        rows = [r for r in history if r.get("phase", "") == phase]
        accs = [float(r["val_accuracy"]) for r in rows if r.get("val_accuracy") not in (None, "")]
        losses = [float(r["val_loss"]) for r in rows if r.get("val_loss") not in (None, "")]
        best = max(accs) if accs else None
        out.append(
            {"phase": phase, "epochs": len(rows), "best_val_accuracy": best, "last_val_loss": (losses or [None])[-1]}
        )
    return out


def _parity_meter(run: Run, clf: Classifier, fastest: str) -> ParityMeter | None:
    """A meter of ``fastest`` against float32 on the calibration images, or ``None`` when it is float32."""
    if fastest == "float32":
        return None
    head_units, dropout = head_settings(run)
    return ParityMeter(fastest, clf.at_precision(fastest, head_units=head_units, dropout=dropout).forward)


def _kept_check(run: Run) -> ParityCheck | None:
    """The check recorded before, kept when this machine checks nothing (evaluation never changes the model)."""
    try:
        return run.parity
    except BundleError:
        return None  # damaged: dropped; evaluating on a machine with bfloat16 records it again


def _gather(
    clf: Classifier, data, outside, target: float, say: Callable[[str], None], meter: ParityMeter | None
) -> tuple[Evidence, list, str]:
    """Embed every image once, fit temperature, threshold and OOD threshold on validation, rank suspects.

    ``meter`` (when given) also runs the reduced-precision model on the calibration images as they are embedded.
    """
    run, classes = Run.open(clf.run_dir), list(clf.classes)
    evaluated_on, pairs = resolve_eval_data(run, data, classes)
    calibration_pairs = labelled_split(run, "val", classes)
    if evaluated_on == "val":  # no test split: half of val calibrates, the other half is judged
        calibration_pairs, pairs = split_calibration(calibration_pairs)
        evaluated_on = HELD_OUT_VAL
    say(f"Embedding {len(pairs)} evaluation images ({evaluated_on}), then calibration and training images...")
    test, val = embed(clf, pairs), embed(clf, calibration_pairs, on_batch=meter.update if meter else None)
    if not len(test.labels):
        raise DatasetError(f"No readable images to evaluate on in '{evaluated_on}'; pass --data with labelled images.")
    train = embed(clf, labelled_split(run, "train", classes))
    notes = [_refresh_features(run, train)]
    shared = set(val.sources) & set(test.sources)
    if shared:
        notes.append(f"{len(shared)} evaluation images also calibrated the model; their figures are optimistic.")
    bank = KnnOOD(train.features)
    fitted = fit_policy(val, bank, target)
    policy, choice, val_probs = fitted.policy, fitted.choice, fitted.probs
    say("Scoring images from elsewhere and ranking suspect training images...")
    try:
        suspects = tuple(find_suspects(train.features, train.labels, classes, train.sources, top=SUSPECTS_KEPT))
    except SuspectError as exc:
        suspects, notes = (), [*notes, str(exc)]
    evidence = Evidence(
        test=test,
        test_probs=policy.calibrate(test.probs),
        test_ood=bank.score(test.features),
        val=val,
        val_probs=val_probs,
        outside=_outside(clf, load_outside(outside, clf.input_size), bank, policy),
        policy=policy,
        choice=choice,
        suspects=suspects,
        history=tuple(run.history()),
    )
    skipped = [list(e) for e in test.errors + val.errors + train.errors]
    return evidence, [*notes, *(f"Skipped {p}: {e}" for p, e in skipped)], evaluated_on


def _ood_metrics(ev: Evidence, outside_source: str) -> dict[str, Any]:
    limit = ev.policy.ood_threshold
    flagged = lambda s: float((s > limit).mean()) if limit is not None and len(s) else None  # noqa: E731
    return {
        "method": "cosine distance to the k-th nearest training embedding (k-NN on pooled features, k = 5)",
        "threshold": limit,
        "threshold_rule": f"at most {FALSE_UNFAMILIAR_RATE:.0%} of familiar images flagged (split-conformal "
        "quantile of the calibration images' scores)",
        "auroc": _auroc(ev.test_ood, ev.outside.ood),
        "softmax_auroc": _auroc(1 - ev.test_probs.max(axis=1), 1 - ev.outside.probs.max(axis=1)),
        "outside_source": outside_source,
        "n_outside": len(ev.outside.names),
        "test_flagged_share": flagged(ev.test_ood),
        "outside_flagged_share": flagged(ev.outside.ood),
    }


def _set_metrics(ev: Evidence) -> list[dict[str, Any]]:
    """Empirical coverage and mean size of the conformal prediction sets on the evaluation images."""
    conformal = ev.policy.conformal
    if conformal is None:
        return []
    out = []
    for level in SET_LEVELS:
        sets = conformal.sets(ev.test_probs, level)
        covered = [int(y) in members for y, members in zip(ev.test.labels, sets, strict=True)]
        out.append(
            {"level": level, "coverage": float(np.mean(covered)), "mean_size": float(np.mean([len(m) for m in sets]))}
            | {"informative": conformal.min_coverage_met(level)}
        )
    return out


def _metrics(run: Run, ev: Evidence, classes: list[str], evaluated_on: str, notes: list, outside) -> dict[str, Any]:
    """Everything measured, as written to ``eval/metrics.json``."""
    test = ev.test
    if evaluated_on == HELD_OUT_VAL:
        notes = [
            *notes,
            "The run has no test split: half of the validation split (stratified) fitted the temperature, "
            "thresholds and prediction sets, and the metrics are measured on the other half.",
        ]
    before, after = reliability(test.labels, test.probs), reliability(test.labels, ev.test_probs)
    counts = {s: Counter(i for _, i in labelled_split(run, s, classes)) for s in ("train", "val", "test")}
    if evaluated_on not in counts:
        counts["evaluated"] = Counter(test.labels.tolist())
    return {
        "run": str(run.path),
        "evaluated_on": evaluated_on,
        "notes": notes,
        "model": {k: v for k, v in run.meta.items() if k not in ("config", "versions")},
        "classes": classes,
        "history": _history_summary(ev.history),
        "split_counts": {s: {classes[i]: int(n) for i, n in sorted(c.items())} for s, c in counts.items()},
        "test": {
            **classification_metrics(test.labels, ev.test_probs, classes),
            "loss_uncalibrated": nll(test.labels, test.probs),
        },
        "calibration": {
            "temperature": ev.policy.temperature,
            "fitted_on": f"val ({len(ev.val.labels)} images)",
            "fitted_images": list(ev.val.sources),
            "ece_before": before.ece,
            "ece_after": after.ece,
            "val_nll_before": nll(ev.val.labels, ev.val.probs),
            "val_nll_after": nll(ev.val.labels, ev.val_probs),
            "reliability_before": before.to_dict(),
            "reliability_after": after.to_dict(),
        },
        "threshold": {
            **ev.choice.to_dict(),
            **{
                f"test_{k}": v
                for k, v in selective_scores(ev.test_probs.max(1), ev.correct, ev.choice.threshold).items()
            },
        },
        "ood": _ood_metrics(ev, str(outside) if outside else "scikit-image sample photos (skimage.data)"),
        "sets": _set_metrics(ev),
        "suspects": [s.to_row() for s in ev.suspects],
    }


def _prediction_rows(ev: Evidence, classes: list[str]) -> list[dict[str, Any]]:
    """One row per evaluation image: truth, prediction, calibrated confidence, status and OOD score."""
    rows = []
    for src, y, p, o in zip(ev.test.sources, ev.test.labels, ev.test_probs, ev.test_ood, strict=True):
        conf, pred = float(p.max()), int(p.argmax())
        status = ev.policy.status(conf, float(o))
        rows.append(
            {"path": src, "true": classes[y], "predicted": classes[pred], "confidence": f"{conf:.6f}"}
            | {"correct": int(pred == y), "status": status, "ood_score": f"{o:.6f}"}
        )
    return rows


def evaluate(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    outside: str | Path | None = None,
    target_accuracy: float = 0.98,
    html: bool = True,
    progress: Callable[[str], None] | None = None,
    fastest: str | None = None,
) -> EvalResult:
    """Evaluate a finished run: write ``calibration.json``, ``eval/metrics.json``, plots and ``report.html``.

    ``data`` is a split of the run (train, val, test) or another dataset; default: the test split, or val
    when the run has none. ``outside`` is a folder of images unlike the classes (default: scikit-image's
    sample photos) used to measure the OOD score. When this machine's fastest precision (``fastest``; default
    ``resolve_precision("auto")``) is not float32, the calibration images also run in it and the parity check
    (:mod:`imgclf.engine.precision_check`) is recorded in the run, which decides what :func:`imgclf.load` uses.
    """
    say = progress or (lambda message: None)
    run = Run.open(run_dir)
    clf = load(run, with_ood=False, fastest="float32")
    classes = list(clf.classes)
    fastest = resolve_precision("auto") if fastest is None else fastest
    meter = _parity_meter(run, clf, fastest)
    evidence, notes, evaluated_on = _gather(clf, data, outside, target_accuracy, say, meter)
    calibration = {
        "temperature": evidence.policy.temperature,
        **evidence.choice.to_dict(),
        "ood_threshold": evidence.policy.ood_threshold,
        "ood_auroc": _auroc(evidence.test_ood, evidence.outside.ood),
        "conformal_method": (
            "adaptive prediction sets (split conformal, randomised by each image's own probabilities), "
            "scores of the calibration images"
        ),
        "conformal_scores": list(evidence.policy.conformal.scores) if evidence.policy.conformal else None,
        "fitted_on": "val",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    check = meter.result() if meter is not None else _kept_check(run)
    run.write_calibration(calibration, check)
    metrics = _metrics(run, evidence, classes, evaluated_on, notes, outside)
    chosen, reason = choose_precision(fastest, check)
    metrics["inference_precision"] = {
        "policy": chosen,
        "reason": reason,
        "check": None if check is None else check.to_dict(),
    }
    run.eval_dir.mkdir(exist_ok=True)
    say("Drawing plots and writing the report...")
    plots = draw_all(run.plots_dir, metrics, evidence)
    run.write_predictions(_prediction_rows(evidence, classes))
    run.write_metrics(metrics)
    report = write_report(run.report_path, metrics, plots) if html else None
    return EvalResult(run.path, run.eval_dir, metrics, calibration, evidence.suspects, plots, report)
