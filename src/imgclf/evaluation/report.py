"""``report.html``: one self-contained page (inline CSS, images as data URIs) that opens with no network."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "render_report", "write_report"]

SECTIONS = {
    "summary": "Summary",
    "dataset": "Dataset",
    "training": "Training history",
    "metrics": "Metrics",
    "calibration": "Calibration",
    "thresholds": "Thresholds",
    "ood": "Out-of-distribution",
    "errors": "Errors",
    "suspects": "Suspect labels",
    "model-card": "Model card",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:18px 32px}header h1{margin:0;font-size:24px}
nav{padding:8px 32px;background:#e9ecf1;font-size:14px}nav a{margin-right:14px;color:#1d4e89}
main{max-width:1180px;margin:0 auto;padding:8px 32px 40px}
section{background:#fff;border-radius:8px;padding:14px 22px;margin:18px 0;box-shadow:0 1px 3px #0002}
h2{margin-top:4px;border-bottom:2px solid #e9ecf1;padding-bottom:6px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px}
th,td{border:1px solid #d5d9e0;padding:4px 10px;text-align:left}th{background:#f0f2f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #e1e4e8}
figcaption{font-size:13px;color:#555}.note{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    return f"{value:.1%}" if pct else f"{value:.4f}" if isinstance(value, float) else str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(pairs: Mapping[str, str]) -> str:
    """A two-column table of names (escaped here) and values (already HTML)."""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs.items())
    return f"<table><tbody>{rows}</tbody></table>"


def _figure(path: Path | None, caption: str) -> str:
    if path is None or not Path(path).is_file():
        return f'<p class="note">{_e(caption)}: plot not available.</p>'
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    img = f'<img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
    return f"<figure>{img}<figcaption>{_e(caption)}</figcaption></figure>"


def _summary(m: dict) -> str:
    t, c, th, o = m["test"], m["calibration"], m["threshold"], m["ood"]
    rows = {
        "Evaluated on": _e(f"{m['evaluated_on']} ({t['n']} images)"),
        "Accuracy": _num(t["accuracy"], True),
        "Balanced accuracy": _num(t["balanced_accuracy"], True),
        "Macro F1": _num(t["f1_macro"]),
        "ECE before / after calibration": f"{_num(c['ece_before'])} / {_num(c['ece_after'])}",
        "Confidence threshold": f"{_num(th['threshold'])} (test coverage {_num(th['test_coverage'], True)}, "
        f"accuracy {_num(th['test_accuracy'], True)})",
        "OOD AUROC (k-NN / softmax)": f"{_num(o['auroc'])} / {_num(o['softmax_auroc'])}",
    }
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in m["notes"])
    return _kv(rows) + notes


def _dataset(m: dict, plots: Mapping[str, Path]) -> str:
    counts = m["split_counts"]
    rows = [[_e(c), *(str(counts[s].get(c, 0)) for s in counts)] for c in m["classes"]]
    rows.append(["<b>total</b>", *(str(sum(counts[s].values())) for s in counts)])
    return _table(["class", *counts], rows) + _figure(plots.get("class_distribution"), "Images per class and split")


def _training(m: dict, plots: Mapping[str, Path]) -> str:
    rows = [
        [_e(h["phase"]), str(h["epochs"]), _num(h["best_val_accuracy"], True), _num(h["last_val_loss"])]
        for h in m.get("history", [])
    ]
    table = _table(["phase", "epochs", "best val accuracy", "last val loss"], rows)
    return table + _figure(plots.get("training_curves"), "Accuracy and loss per epoch; the dotted line marks phase 2")


def _metrics(m: dict, plots: Mapping[str, Path]) -> str:
    t = m["test"]
    head = {
        "Loss (calibrated / raw)": f"{_num(t['loss'])} / {_num(t['loss_uncalibrated'])}",
        "Accuracy": _num(t["accuracy"], True),
        "Balanced accuracy": _num(t["balanced_accuracy"], True),
        "F1 macro / weighted": f"{_num(t['f1_macro'])} / {_num(t['f1_weighted'])}",
        "ROC-AUC (one-vs-rest)": _num(t["roc_auc_ovr"]),
        **{f"Top-{k} accuracy": _num(v, True) for k, v in t["top_k_accuracy"].items()},
    }
    per_class = [
        [_e(name), _num(s["precision"]), _num(s["recall"]), _num(s["f1"]), str(s["support"]), _num(s["roc_auc"])]
        for name, s in t["per_class"].items()
    ]
    cm = [[_e(name), *map(str, row)] for name, row in zip(m["classes"], t["confusion_matrix"], strict=True)]
    return (
        _kv(head)
        + _table(["class", "precision", "recall", "F1", "support", "ROC-AUC"], per_class)
        + "<p>Confusion matrix (rows: true class, columns: predicted class)</p>"
        + _table(["true \\ predicted", *m["classes"]], cm)
        + _figure(plots.get("confusion_matrix"), "Confusion matrix heat map")
        + _figure(plots.get("per_class_accuracy"), "Per-class accuracy")
    )


def _calibration(m: dict, plots: Mapping[str, Path]) -> str:
    c = m["calibration"]
    rows = {
        "Temperature": f"{_num(c['temperature'])} (fitted on {_e(c['fitted_on'])}; above 1 softens over-confidence)",
        "ECE before": _num(c["ece_before"]),
        "ECE after": _num(c["ece_after"]),
        "Validation NLL before / after": f"{_num(c['val_nll_before'])} / {_num(c['val_nll_after'])}",
    }
    return _kv(rows) + _figure(plots.get("reliability"), "Reliability diagram before and after temperature scaling")


def _thresholds(m: dict, plots: Mapping[str, Path]) -> str:
    th = m["threshold"]
    met = "yes" if th["threshold_met"] else "no: the threshold with the best validation accuracy is used"
    rows = {
        "Target selective accuracy": _num(th["target_accuracy"], True),
        "Chosen threshold": _num(th["threshold"]),
        "Target met on validation": met,
        "Validation coverage / accuracy": f"{_num(th['threshold_coverage'], True)} / "
        f"{_num(th['threshold_accuracy'], True)}",
        "Evaluation coverage / accuracy": f"{_num(th['test_coverage'], True)} / {_num(th['test_accuracy'], True)}",
        "Evaluation images marked uncertain": str(th["test_uncertain"]),
    }
    text = "<p>Predictions whose calibrated confidence is below the threshold are marked <i>uncertain</i>.</p>"
    return text + _kv(rows) + _figure(plots.get("risk_coverage"), "Accuracy of the kept predictions vs coverage")


def _ood(m: dict, plots: Mapping[str, Path]) -> str:
    o = m["ood"]
    rows = {
        "Score": _e(o["method"]),
        "Unfamiliar above": f"{_num(o['threshold'])} ({_e(o['threshold_rule'])})",
        "Images from elsewhere": _e(f"{o['n_outside']} from {o['outside_source']}"),
        "AUROC, k-NN score": _num(o["auroc"]),
        "AUROC, softmax (1 - max probability)": _num(o["softmax_auroc"]),
        "Evaluation images flagged unfamiliar": _num(o["test_flagged_share"], True),
        "Outside images flagged unfamiliar": _num(o["outside_flagged_share"], True),
    }
    return (
        _kv(rows)
        + _figure(plots.get("ood_scores"), "OOD score of evaluation images and of images from elsewhere")
        + _figure(plots.get("outside_predictions"), "Predictions on images from elsewhere (green: flagged)")
    )


def _suspects(m: dict, plots: Mapping[str, Path]) -> str:
    rows = [
        [
            str(i),
            _e(Path(s["source"]).name),
            _e(s["given"]),
            _e(s["suggested"]),
            _num(s["label_quality"]),
            _num(s["outlier_score"]),
            _e(s["reason"]),
        ]
        for i, s in enumerate(m["suspects"][:15], start=1)
    ]
    text = (
        "<p>Ranked by the larger of two signals: cleanlab label quality on cross-validated probabilities "
        "(mislabelled?) and the distance to the other training images (out of place?).</p>"
    )
    table = _table(["#", "image", "given", "suggested", "label quality", "outlier score", "why"], rows)
    return text + table + _figure(plots.get("suspects"), "Suspect training images with given and suggested labels")


def _model_card(m: dict) -> str:
    meta, th = m["model"], m["threshold"]
    counts = {s: sum(c.values()) for s, c in m["split_counts"].items()}
    rows = {
        "Backbone": _e(meta.get("backbone")),
        "Weights": _e(f"{meta.get('weights')} ({meta.get('weights_id')})"),
        "Input size": _e(f"{meta.get('input_size')} x {meta.get('input_size')} RGB"),
        "Classes": _e(", ".join(m["classes"])),
        "Data": _e(f"{meta.get('dataset', 'unknown')}: " + ", ".join(f"{s} {n}" for s, n in counts.items())),
        "Intended use": "Sorting photos into the classes above, with a person reviewing uncertain and unfamiliar "
        "results. Not for safety-critical or medical decisions.",
        "Limits": _e(
            f"Knows only {len(m['classes'])} classes; anything else is at best flagged unfamiliar. Accuracy was "
            f"measured on {m['test']['n']} images ({m['evaluated_on']}); below a confidence of "
            f"{th['threshold']:.3f} answers are marked uncertain. Photos unlike the training data (other cameras, "
            "lighting, subjects) may be less accurate than measured here."
        ),
    }
    return _kv(rows)


def render_report(metrics: dict[str, Any], plots: Mapping[str, Path]) -> str:
    """The full HTML page for ``metrics`` (as in ``metrics.json``) and the plot files."""
    bodies = {
        "summary": _summary(metrics),
        "dataset": _dataset(metrics, plots),
        "training": _training(metrics, plots),
        "metrics": _metrics(metrics, plots),
        "calibration": _calibration(metrics, plots),
        "thresholds": _thresholds(metrics, plots),
        "ood": _ood(metrics, plots),
        "errors": _figure(plots.get("confident_errors"), "Misclassified images, most confident first"),
        "suspects": _suspects(metrics, plots),
        "model-card": _model_card(metrics),
    }
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title in SECTIONS.items())
    sections = "".join(
        f'<section id="{key}"><h2>{_e(title)}</h2>{bodies[key]}</section>' for key, title in SECTIONS.items()
    )
    title = f"imgclf evaluation: {Path(metrics['run']).name}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body><header><h1>{_e(title)}</h1></header><nav>{nav}</nav><main>{sections}</main></body></html>\n"
    )


def write_report(path: Path, metrics: dict[str, Any], plots: Mapping[str, Path]) -> Path:
    """Render and write ``report.html`` atomically; return its path."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(metrics, plots), encoding="utf-8")
    os.replace(tmp, path)
    return path
