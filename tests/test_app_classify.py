"""The Classify page through Streamlit's AppTest: uploads, a bad upload, the threshold slider, the CSV table."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def png(colour: tuple[int, int, int], size: int = 48, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(0)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def start(runs: Path) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state["runs_dir"] = str(runs)
    return at.run()


@pytest.fixture()
def app(tiny_run: Path) -> AppTest:
    at = start(tiny_run.parent)
    assert not at.exception, at.exception
    return at


def badges(at: AppTest) -> list[str]:
    """The status badges shown (st.badge is a Markdown element like ``:orange-badge[:material/help: uncertain]``)."""
    return [m.value.rstrip("]").split()[-1] for m in at.markdown if "-badge[" in m.value]


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption]


def test_picker_lists_the_run_and_an_upload_is_classified(app: AppTest, tiny_run: Path) -> None:
    picker = app.sidebar.selectbox(key="model_picker")
    assert picker.value == str(tiny_run)
    assert "imagenet" in picker.options[-1].lower()
    app.file_uploader(key="uploads").set_value(("red one.png", png((200, 40, 40)), "image/png"))
    app.run()
    assert not app.exception, app.exception
    assert app.metric[0].label == "red"
    assert "red one.png" in texts(app)
    assert badges(app) == ["confident"]
    assert app.get("image"), "the image (with its heat map) is shown"
    top = app.dataframe[0].value
    assert top["class"].iloc[0] == "red" and len(top) == 3
    assert [e.label for e in app.expander] == ["AI analysis"]


def test_several_uploads_give_a_table_and_a_csv(app: AppTest) -> None:
    files = [
        ("a.png", png((200, 40, 40)), "image/png"),
        ("b.webp", png((40, 60, 200), fmt="WEBP"), "image/webp"),
        ("c.gif", png((40, 180, 60), fmt="GIF"), "image/gif"),
    ]
    app.file_uploader(key="uploads").set_value(files)
    app.run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert list(table["image"]) == ["a.png", "b.webp", "c.gif"]
    assert list(table["label"]) == ["red", "blue", "green"]
    assert app.get("download_button"), "the CSV download is offered"


def test_bad_upload_gets_a_message_not_a_traceback(app: AppTest) -> None:
    app.file_uploader(key="uploads").set_value(
        [("../../etc/passwd.png", b"not an image at all", "image/png"), ("ok.png", png((40, 60, 200)), "image/png")]
    )
    app.run()
    assert not app.exception, app.exception
    assert any("passwd" in e.value and "not an image" in e.value for e in app.error)
    assert badges(app) == ["unreadable", "confident"]


def test_threshold_slider_flags_uncertain_and_heatmap_toggle(app: AppTest) -> None:
    app.file_uploader(key="uploads").set_value(("x.png", png((200, 40, 40)), "image/png"))
    app.run()
    assert badges(app) == ["confident"]
    app.sidebar.slider(key="threshold").set_value(1.0)
    app.run()
    assert badges(app) == ["uncertain"]
    app.sidebar.toggle(key="heatmap").set_value(False)
    app.run()
    assert not app.exception, app.exception
    assert app.sidebar.slider(key="opacity").disabled


def test_samples_tab_classifies_a_shipped_photo(app: AppTest) -> None:
    picker = app.multiselect(key="samples")
    assert any(o.startswith("bees/") for o in picker.options)
    picker.select(picker.options[0])
    app.run()
    assert not app.exception, app.exception
    assert len(badges(app)) == 1


@pytest.mark.integration
def test_imagenet_mode_without_runs(tmp_path: Path) -> None:
    if not os.environ.get("IMGCLF_WEIGHTS"):
        pytest.skip("IMGCLF_WEIGHTS is not set (the pretrained ResNet50 weights)")
    at = start(tmp_path / "no-runs")
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="model_picker").value == "imagenet"
    assert any("1000 ImageNet classes" in i.value for i in at.info)
    samples = at.multiselect(key="samples")
    samples.select(next(o for o in samples.options if o.startswith("bees/149973093")))
    at.run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "bee"
