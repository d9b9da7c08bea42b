"""The Train page through AppTest: training in a subprocess, a form that keeps the user's choices, a neutral
Cancel with Resume and Delete, a failure's cause with details, and a finished run judged against chance."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_helpers import all_text, open_page, png, wait_for, zip_bytes
from conftest import make_dataset
from imgclf.app.components.datasets import FOLDER, ZIP
from imgclf.engine.run import Run, partial_dir


def _train_page(tmp_path: Path, data: Path) -> AppTest:
    at = open_page(tmp_path / "runs", "train", roots=[tmp_path])
    at.radio(key="train-mode").set_value(FOLDER).run()
    at.text_input(key="train-folder").set_value(str(data))
    at.selectbox(key="backbone").set_value("tinycnn").run()
    return at


def _form(at: AppTest) -> dict[str, object]:
    return {
        "backbone": at.selectbox(key="backbone").value,
        "p1": at.number_input(key="p1").value,
        "p2": at.number_input(key="p2").value,
        "pretrained": at.checkbox(key="pretrained").value,
        "run_name": at.text_input(key="run_name").value,
        "folder": at.text_input(key="train-folder").value,
    }


def test_training_finishes_keeps_the_form_and_selects_the_new_run(tmp_path: Path) -> None:
    """Defect 1: after a run the form fell back to 1 / 0 epochs, no ImageNet weights, 'my-model'."""
    data = make_dataset(tmp_path / "data", counts={"train": 8, "val": 4})
    at = _train_page(tmp_path, data)
    assert at.checkbox(key="pretrained").value is False, "tinycnn has no pretrained weights"
    at.number_input(key="p1").set_value(3)  # neither the minimum (1) nor tinycnn's suggestion (20)
    at.number_input(key="p2").set_value(1)
    at.text_input(key="run_name").set_value("../web run").run()
    chosen = _form(at)
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    assert at.button(key="cancel"), "a cancel button while training"
    assert _form(at) == chosen and at.button(key="start").disabled, "the form stays, Start is off meanwhile"
    wait_for(at, lambda a: bool(a.success or a.error or any("Finished" in w.value for w in a.warning)))
    assert any(s.value.startswith("Done: web\\-run is right on") for s in at.success), all_text(at)
    run = tmp_path / "runs" / "web-run"
    assert Run.open(run).classes == ("blue", "red")
    assert _form(at) == chosen, "the form keeps what the user chose"
    assert any("saved as **web\\-run\\-2**" in c.value for c in at.caption), "the caption names the next run"
    assert any("trained from random weights" in w.value for w in at.warning), "said plainly"
    assert not at.error
    at.switch_page("pages/model.py").run()  # the picker, without loading the model as Classify would
    assert at.sidebar.selectbox(key="model_picker").value == str(run), "the new run is selected"
    at.switch_page("pages/train.py").run()
    assert _form(at) == chosen, "and still after a visit to another page"


def test_cancel_is_neutral_with_resume_and_delete(tmp_path: Path) -> None:
    """Defect 2: Cancel showed raw progress-bar text and TensorFlow logs in a red error box."""
    data = make_dataset(tmp_path / "data", counts={"train": 8, "val": 4})
    at = _train_page(tmp_path, data)
    at.number_input(key="p1").set_value(500).run()
    chosen = _form(at)
    at.button(key="start").click().run()
    job = at.session_state["training_job"]
    partial = partial_dir(job.request.out)
    wait_for(at, lambda a: Run(partial).prepared and any(e.get("stage") == "phase1" for e in job.events()))
    at.button(key="cancel").click().run()
    assert not at.exception, at.exception
    assert not job.running() and job.cancelled
    assert any(i.value == "Cancelled, partial run kept." for i in at.info)
    assert not at.error, "cancelling is the user's own act, not an error"
    assert "phase1:" not in all_text(at).split("Cancelled")[-1]
    assert _form(at) == chosen
    at.button(key="resume").click().run()
    resumed = at.session_state["training_job"]
    assert resumed.running() and "--resume" in resumed.process.args
    at.button(key="cancel").click().run()
    assert partial.is_dir()
    at.button(key="delete_partial").click().run()
    assert not partial.exists() and "training_job" not in at.session_state
    assert not at.button(key="start").disabled


def test_a_failure_gives_its_cause_hides_the_details_and_never_the_server_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two trainings on one class fail, one on a folder, one on an uploaded zip (both started before either is
    awaited, so their processes start up side by side): the cause in one sentence, the details in an expander,
    and for the zip, never the server folder it was unpacked into."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = make_dataset(tmp_path / "data", classes=("red",), counts={"train": 4, "val": 2})
    folder = _train_page(tmp_path, data)
    folder.button(key="start").click().run()
    uploaded = open_page(tmp_path / "zip-runs", "train", roots=[tmp_path / "datasets"])
    uploaded.radio(key="train-mode").set_value(ZIP).run()
    one_class = zip_bytes({f"data/red/{i}.png": png((200, 40, 40), seed=i) for i in range(4)})
    uploaded.file_uploader(key="train-zip").set_value(("red.zip", one_class, "application/zip")).run()
    uploaded.selectbox(key="backbone").set_value("tinycnn").run()
    uploaded.button(key="start").click().run()

    wait_for(folder, lambda a: bool(a.error))
    cause = folder.error[0].value
    assert cause.startswith("Training failed: ") and "class" in cause
    assert "Traceback" not in cause and "\n" not in cause.strip()
    assert [e.label for e in folder.expander] == ["Details"]
    wait_for(uploaded, lambda a: bool(a.error))
    text = all_text(uploaded)
    assert "red.zip" in text and "imgclf-upload" not in text and str(tmp_path) not in text


def test_a_run_near_chance_is_not_announced_as_done(tiny_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(tiny_run, tmp_path / "runs" / "coin"))
    rows = [{"phase": 1, "epoch": 1, "loss": 1.1, "accuracy": 0.4, "val_loss": 1.09, "val_accuracy": 0.36}]
    Run(run).write_history(rows)

    def script(folder: str) -> None:
        from pathlib import Path

        from imgclf.app.components.report import render_training_verdict

        render_training_verdict(Path(folder), pretrained=False)

    at = AppTest.from_function(script, args=(str(run),)).run()
    assert not at.exception, at.exception
    assert not at.success, "no green Done for a model at chance"
    warning = at.warning[0].value
    assert "36% of its validation images: about chance" in warning and "Chance is 33%" in warning.replace("\\", "")
    assert "random weights" in at.warning[1].value


@pytest.mark.parametrize("typed", ["/etc", "/"])
def test_train_page_refuses_a_folder_outside_the_data_roots(tmp_path: Path, typed: str) -> None:
    at = open_page(tmp_path / "runs", "train", roots=[tmp_path / "datasets"])
    at.radio(key="train-mode").set_value(FOLDER).run()
    at.text_input(key="train-folder").set_value(typed).run()
    assert any("outside the folders this app may read" in e.value for e in at.error)
    assert at.button(key="start").disabled
