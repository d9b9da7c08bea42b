"""The review loop end to end: suspect -> relabel -> corrections file -> warm retrain -> compare."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from imgclf.cli.main import main
from imgclf.config import load_config
from imgclf.data.check import check_dataset
from imgclf.data.corrections import CORRECTIONS_FILE
from imgclf.engine.progress import ProgressEvent
from imgclf.engine.trainer import train
from imgclf.evaluation import evaluate
from imgclf.evaluation.compare import compare_runs
from imgclf.evaluation.review_queue import review_queue
from imgclf.evaluation.suspects import rank_run_suspects
from review_case import CONFIG, MISLABELLED, ReviewCase


def _train(data: Path, out: Path) -> tuple[Path, list[ProgressEvent]]:
    events: list[ProgressEvent] = []
    return train(data, load_config(overrides=CONFIG), out, progress=events.append), events


def test_suspect_relabel_retrain_compare(review_template: ReviewCase, capsys) -> None:
    data, before = review_template.fresh()  # trained on the dataset with CONFIG and evaluated
    wrong = data / MISLABELLED

    suspects = rank_run_suspects(before, top=3)  # what `imgclf suspects RUN` lists
    assert Path(suspects[0].source).name == "oops.png"
    assert (suspects[0].given, suspects[0].suggested) == ("blue", "red")
    queue = review_queue(before)
    assert queue[0].path == Path(suspects[0].source) and queue[0].kind == "suspect"

    assert main(["review", str(data), "--relabel", "train/blue/oops.png", "red"]) == 0
    with (data / CORRECTIONS_FILE).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["path"], r["old_label"], r["new_label"], r["action"]) for r in rows] == [
        ("train/blue/oops.png", "blue", "red", "relabel")
    ]
    assert wrong.is_file(), "recording a decision never moves the image"
    report = check_dataset(data)
    assert report.counts["train"] == {"blue": 12, "red": 13}
    assert [(p.name, old, new) for p, old, new in report.layout.relabelled] == [("oops.png", "blue", "red")]
    assert all(item.path != wrong for item in review_queue(before)), "a decided image leaves the queue"

    after, events = _train(data, before.parent / "after")
    assert any(e.stage == "features" and "all features cached" in e.message for e in events), "a warm run"
    train_labels = dict(json.loads((after / "splits.json").read_text())["train"])
    assert train_labels[str(wrong.resolve())] == "red"
    evaluate(after, html=False)

    comparison = compare_runs(before, after)
    assert [(Path(d.path).name, d.split, d.label_a, d.label_b) for d in comparison.data_changes] == [
        ("oops.png", "train", "blue", "red")
    ]
    assert comparison.shared == 12 and comparison.right_b >= comparison.right_a - 1
    assert comparison.keep in (before, after) and comparison.reason

    assert main(["compare", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "oops.png: blue -> red" in out and "accuracy" in out and "Keep " in out
