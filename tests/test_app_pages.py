"""The Model, Dataset, Train and Settings pages through AppTest, and the safe zip extraction."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import make_dataset
from imgclf.app.components.archive import ArchiveError, extract_zip

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def open_page(runs: Path, page: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state["runs_dir"] = str(runs)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture()
def own_run(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run (evaluation writes into the run folder)."""
    return Path(shutil.copytree(tiny_run, tmp_path / "runs" / "tiny"))


def test_model_page_asks_for_evaluation_then_shows_the_report(own_run: Path) -> None:
    at = open_page(own_run.parent, "model")
    assert at.title[0].value == "Model report"
    assert any("imgclf evaluate" in w.value for w in at.warning)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "training curves are charts"
    at.button(key="evaluate").click().run()
    assert not at.exception, at.exception
    assert not at.warning
    labels = [m.label for m in at.metric]
    assert {"Accuracy", "Balanced accuracy", "Macro F1", "Calibration error (ECE)"} <= set(labels)
    confusion = next(d.value for d in at.dataframe if d.value.index.name == "true")
    assert list(confusion.columns) == ["blue", "green", "red"] and confusion.to_numpy().sum() > 0
    assert at.get("image"), "the reliability and error plots are shown as images"


def test_model_page_in_imagenet_mode_explains_itself(tmp_path: Path) -> None:
    at = open_page(tmp_path, "model")
    assert any("Train" in i.value for i in at.info)


def test_dataset_page_reports_problems_with_thumbnails(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", counts={"train": 4, "val": 2})
    (data / "train" / "red" / "broken.png").write_bytes(b"\x89PNG not really")
    at = open_page(tmp_path / "runs", "dataset")
    at.text_input(key="dataset-folder").set_value(str(data)).run()
    at.button(key="check").click().run()
    assert not at.exception, at.exception
    assert any("Not safe to train" in e.value for e in at.error)
    assert any(r"broken\.png" in c.value for c in at.caption), "the problem file is named under its thumbnail"
    counts = at.dataframe[0].value
    assert counts.loc["red", "train"] == 4 and counts.loc["blue", "train"] == 4


def test_dataset_page_missing_folder_gets_a_message(tmp_path: Path) -> None:
    at = open_page(tmp_path / "runs", "dataset")
    at.text_input(key="dataset-folder").set_value(str(tmp_path / "nope")).run()
    at.button(key="check").click().run()
    assert not at.exception, at.exception
    assert at.error and "nope" in at.error[0].value


def _wait_for(at: AppTest, done, timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return
        time.sleep(1.0)
    pytest.fail("the training page did not reach the expected state in time")


def test_train_page_trains_in_a_subprocess_and_lists_the_run(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", counts={"train": 8, "val": 4})
    runs = tmp_path / "runs"
    at = open_page(runs, "train")
    at.text_input(key="train-folder").set_value(str(data))
    at.selectbox(key="backbone").set_value("tinycnn").run()
    assert at.checkbox(key="pretrained").value is False
    at.number_input(key="p1").set_value(2)
    at.number_input(key="p2").set_value(0)
    at.text_input(key="run_name").set_value("../web run").run()
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    assert at.button(key="cancel"), "a cancel button while training"
    _wait_for(at, lambda a: any("Done" in s.value for s in a.success))
    assert (runs / "web-run" / "model.keras").is_file()
    at.switch_page("pages/classify.py").run()
    assert at.sidebar.selectbox(key="model_picker").value == str(runs / "web-run")


def test_train_page_cancel_stops_the_process(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", counts={"train": 8, "val": 4})
    at = open_page(tmp_path / "runs", "train")
    at.text_input(key="train-folder").set_value(str(data))
    at.selectbox(key="backbone").set_value("tinycnn").run()
    at.number_input(key="p1").set_value(500).run()
    at.button(key="start").click().run()
    job = at.session_state["training_job"]
    at.button(key="cancel").click().run()
    assert not at.exception, at.exception
    assert not job.running()
    assert any("Training stopped" in e.value for e in at.error)


def test_settings_page_is_in_the_navigation(tmp_path: Path) -> None:
    at = open_page(tmp_path, "settings")
    assert not at.exception


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_zip_extraction_is_safe(tmp_path: Path) -> None:
    root = extract_zip(_zip({"data/ants/a.jpg": b"x", "data/bees/b.jpg": b"y", "__MACOSX/._a": b""}), tmp_path / "ok")
    assert root == tmp_path / "ok" / "data" and sorted(p.name for p in root.iterdir()) == ["ants", "bees"]
    for bad in ("../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:/evil.txt"):
        with pytest.raises(ArchiveError, match="outside the archive"):
            extract_zip(_zip({bad: b"z"}), tmp_path / "bad")
        assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "bad").exists()
    with pytest.raises(ArchiveError, match="not a valid zip"):
        extract_zip(b"PK not a zip", tmp_path / "junk")


def test_zip_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgclf.app.components.archive as archive

    monkeypatch.setattr(archive, "MAX_EXTRACTED_BYTES", 1000)
    with pytest.raises(ArchiveError, match="more than 1,000 bytes"):
        extract_zip(_zip({"a/x.bin": b"0" * 800, "a/y.bin": b"0" * 800}), tmp_path / "big")
    assert not (tmp_path / "big").exists()


def test_app_opened_from_a_terminal_starts_without_prompting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A first `imgclf app` or `imgclf demo` (not headless, no ~/.streamlit) serves without an email prompt."""
    from imgclf.app.server import serve

    monkeypatch.setenv("HOME", str(tmp_path))  # a machine where Streamlit has never run
    monkeypatch.setenv("BROWSER", "true")  # opening the browser does nothing
    with serve(tmp_path / "runs", headless=False, log=tmp_path / "app.log") as url:
        assert url.startswith("http://127.0.0.1:")
    assert "Email" not in (tmp_path / "app.log").read_text()
