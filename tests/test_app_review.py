"""The Review page through AppTest: queue -> relabel -> decisions -> retrain -> compare -> add a photo -> apply."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app_helpers import png, uploader, wait_for
from imgclf.data.corrections import CORRECTIONS_FILE
from review_case import ReviewCase
from test_corrections import read_only

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def open_review(runs: Path) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state["runs_dir"] = str(runs)
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def corrections(data: Path) -> list[tuple[str, str, str, str]]:
    with (data / CORRECTIONS_FILE).open(newline="") as fh:
        return [(r["path"], r["old_label"], r["new_label"], r["action"]) for r in csv.DictReader(fh)]


def test_review_page_needs_a_trained_run(tmp_path: Path) -> None:
    at = open_review(tmp_path / "runs")
    assert at.title[0].value == "Review"
    assert any("Model picker" in i.value for i in at.info)


def test_the_review_loop_in_the_app(review_template: ReviewCase) -> None:
    data, run = review_template.fresh()
    at = open_review(run.parent)
    assert r"oops\.png" in captions(at), "the mislabelled image leads the queue"
    assert "Keyboard: K keep, A accept, M move, X exclude, S skip" in captions(at)
    assert at.button(key="review-accept").label == "Relabel as red"

    at.button(key="review-accept").click().run()
    assert not at.exception, at.exception
    assert corrections(data) == [("train/blue/oops.png", "blue", "red", "relabel")]
    assert r"oops\.png" not in captions(at), "the queue moved on"
    assert any("relabel" in s.value for s in at.success)
    assert (data / "train" / "blue" / "oops.png").is_file(), "no file moves before Apply to folders"
    decisions = at.dataframe[0].value
    assert list(decisions["action"]) == ["relabel"]
    assert "move     train/blue/oops.png -> train/red/oops.png" in at.code[0].value

    at.button(key="review-retrain").click().run()
    wait_for(at, lambda a: any("Retrained as" in s.value for s in a.success))
    assert any("warm" in s.value for s in at.success), "the retrain reused the feature cache"
    job = at.session_state["review_retrain_job"]
    assert "Traceback" not in job.error_output()
    new_run = job.run_dir()
    assert new_run.name == "first-reviewed" and (new_run / "eval" / "predictions.csv").is_file()
    changes = next(d.value for d in at.dataframe if "split" in d.value.columns)
    assert changes.to_dict("records") == [{"path": "train/blue/oops.png", "split": "train", "A": "blue", "B": "red"}]
    assert any(s.value.startswith("Keep ") for s in at.success)
    metrics = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert list(metrics.columns) == ["metric", "A: first", "B: first-reviewed"]

    at.button(key="compare-use").click().run()
    assert at.sidebar.selectbox(key="model_picker").value in (str(run), str(new_run))

    at.session_state["classified_photos"] = {
        "d1": {"name": "sure.png", "data": png((40, 60, 200)), "label": "blue", "confidence": 0.99, "status": "ok"},
        "d2": {
            "name": "odd.png",
            "data": png((200, 40, 40)),
            "label": "blue",
            "confidence": 0.6,
            "status": "uncertain",
        },
    }
    at.run()
    assert at.selectbox(key="review-add-class-0").value == "blue", "the uncertain photo comes first"
    at.selectbox(key="review-add-class-0").set_value("red")
    at.button(key="review-add-0").click().run()
    assert not at.exception, at.exception
    assert (data / "train" / "red" / "odd.png").is_file()
    assert corrections(data)[-1] == ("train/red/odd.png", "", "red", "add")

    at.checkbox(key="review-apply-sure").check().run()
    at.button(key="review-apply").click().run()
    assert not at.exception, at.exception
    assert (data / "train" / "red" / "oops.png").is_file() and not (data / "train" / "blue" / "oops.png").exists()
    assert any("Applied" in s.value for s in at.success)


def test_a_failed_retrain_says_why_and_the_page_goes_on(review_template: ReviewCase) -> None:
    data, run = review_template.fresh()
    at = open_review(run.parent)
    shutil.rmtree(data / "train" / "red")  # the dataset lost a class after the first training
    at.button(key="review-retrain").click().run()
    wait_for(at, lambda a: any("Retraining stopped" in e.value for e in a.error))
    assert not at.exception, at.exception
    error = next(e.value for e in at.error if "Retraining stopped" in e.value)
    assert "have no usable training images" in error and "red" in error and "Traceback" not in error, error
    assert not (run.parent / "first-reviewed").exists(), "a failed retrain leaves no run behind"
    assert at.button(key="review-retrain").label == "Retrain with corrections", "the user can try again"


def test_a_read_only_dataset_is_reviewed_beside_the_runs(review_template: ReviewCase) -> None:
    data, run = review_template.fresh()
    with read_only(data):
        at = open_review(run.parent)
        assert any("saved beside the runs" in i.value for i in at.info)
        at.button(key="review-keep").click().run()
        assert not at.exception, at.exception
        saved = list((run.parent / "corrections").glob("*.csv"))
        assert len(saved) == 1 and "keep" in saved[0].read_text()


def test_photos_classified_on_the_classify_page_wait_on_the_review_page(tiny_run: Path) -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state["runs_dir"] = str(tiny_run.parent)
    at.run()
    uploader(at).set_value(("red one.png", png((200, 40, 40)), "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert [p["name"] for p in at.session_state["classified_photos"].values()] == ["red one.png"]
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="review-add-class-0").value == "red", "offered under the predicted class"
