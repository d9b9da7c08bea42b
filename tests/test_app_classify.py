"""The Classify page through Streamlit's AppTest: cards that lead with the verdict, uploads kept for the
session, a bad upload, the threshold slider, the status filter, the table and CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_helpers import all_text, badges, open_page, png, uploader

RED, BLUE, GREEN = (200, 40, 40), (40, 60, 200), (40, 180, 60)


@pytest.fixture()
def app(tiny_run: Path) -> AppTest:
    return open_page(tiny_run.parent, "classify")


def test_picker_lists_the_run_and_an_upload_is_classified(app: AppTest, tiny_run: Path) -> None:
    picker = app.sidebar.selectbox(key="model_picker")
    assert picker.value == str(tiny_run)
    assert "imagenet" in picker.options[-1].lower()
    uploader(app).set_value(("red one.png", png(RED), "image/png")).run()
    assert not app.exception, app.exception
    assert app.metric[0].label == "red"
    assert "red one.png" in all_text(app)
    assert badges(app) == ["confident", "confident"]  # the card, then the details below the grid
    assert app.get("image"), "the image (with its heat map) is shown"
    top = next(d.value for d in app.dataframe if "class" in d.value)
    assert top["class"].iloc[0] == "red" and len(top) == 3
    assert [e.label for e in app.expander] == ["All results as a table", "AI analysis"]


def test_what_the_model_knows_is_said_above_the_uploader(app: AppTest) -> None:
    summary = next(m.value for m in app.markdown if "tells apart" in m.value)
    assert "3 classes: blue, green, red" in summary and "not evaluated yet" in summary


def test_several_uploads_give_cards_a_table_and_a_csv(app: AppTest) -> None:
    files = [
        ("a.png", png(RED), "image/png"),
        ("b.webp", png(BLUE, fmt="WEBP"), "image/webp"),
        ("c.gif", png(GREEN, fmt="GIF"), "image/gif"),
    ]
    uploader(app).set_value(files).run()
    assert not app.exception, app.exception
    assert app.subheader[0].value == "3 images: 3 confident"
    assert [b.label for b in app.button if b.label == "Details"] == ["Details"] * 3
    table = next(d.value for d in app.dataframe if "Image" in d.value)
    assert list(table["Image"]) == ["a.png", "b.webp", "c.gif"]
    assert list(table["Label"]) == ["red", "blue", "green"]
    assert "ood_score" not in table and "Unfamiliarity" in table, "plain column names"
    assert app.get("download_button"), "the CSV download is offered"
    app.button(key=f"details-{_digest(files[1])}").click().run()
    assert app.metric[0].label == "blue", "Details opens that image below the grid"


def _digest(file: tuple[str, bytes, str]) -> str:
    import hashlib

    return hashlib.sha256(file[1]).hexdigest()[:12]


def test_bad_upload_gets_a_message_not_a_traceback(app: AppTest) -> None:
    uploader(app).set_value(
        [("../../etc/passwd.png", b"not an image at all", "image/png"), ("ok.png", png(BLUE), "image/png")]
    ).run()
    assert not app.exception, app.exception
    assert "Could not read this image" in all_text(app)
    assert any("passwd" in e.value and "not an image" in e.value for e in app.error)
    assert badges(app)[:2] == ["unreadable", "confident"]


def test_uploads_and_results_survive_a_visit_to_another_page(app: AppTest) -> None:
    """Defect 3: going to Settings (e.g. to set up the AI) and back kept nothing."""
    file = ("red.png", png(RED), "image/png")
    uploader(app).set_value(file).run()
    assert app.metric[0].label == "red"
    analyses = dict(app.session_state["analyses"])
    app.switch_page("pages/settings.py").run()
    app.switch_page("pages/classify.py").run()
    assert not app.exception, app.exception
    assert app.metric and app.metric[0].label == "red", "the upload and its result are still there"
    uploader(app).set_value(file).run()  # the same file again
    assert app.subheader[0].value == "1 image: 1 confident"
    assert any("already in the list" in w.value for w in app.warning)
    assert dict(app.session_state["analyses"]) == analyses, "not classified twice"


def test_threshold_slider_makes_the_verdict_lead(app: AppTest) -> None:
    uploader(app).set_value(("x.png", png(RED), "image/png")).run()
    assert badges(app)[0] == "confident"
    app.sidebar.slider(key="threshold").set_value(1.0).run()
    assert badges(app)[0] == "uncertain"
    text = all_text(app)
    assert "**Not sure: maybe red**" in text and ":gray[model's guess: red]" in text
    assert "(threshold 100%)" in text, "the threshold is shown beside the score"
    app.sidebar.toggle(key="heatmap").set_value(False).run()
    assert not app.exception, app.exception
    assert app.sidebar.slider(key="opacity").disabled


def test_status_filter_remove_and_remove_all(app: AppTest) -> None:
    uploader(app).set_value([("a.png", png(RED), "image/png"), ("b.png", b"junk", "image/png")]).run()
    app.segmented_control(key="status_filter").set_value("error").run()
    assert [b.label for b in app.button if b.label == "Details"] == ["Details"], "only the unreadable card"
    app.segmented_control(key="status_filter").set_value("all").run()
    app.button(key=f"remove-{_digest(('b.png', b'junk', ''))}").click().run()
    assert app.subheader[0].value == "1 image: 1 confident"
    app.button(key="remove_all").click().run()
    assert not app.exception and not app.metric
    assert any("Upload images" in c.value for c in app.caption)


def test_samples_tab_classifies_a_shipped_photo(app: AppTest) -> None:
    picker = app.multiselect(key="samples")
    assert any(o.startswith("bees/") for o in picker.options)
    picker.select(picker.options[0]).run()
    assert not app.exception, app.exception
    assert len(badges(app)) == 2 and app.multiselect(key="samples").value == []


def test_unfamiliar_card_leads_with_what_it_is_not() -> None:
    def script() -> None:
        from PIL import Image

        from imgclf.app.components.inputs import InputImage
        from imgclf.app.components.results import Analysis, Shown, render_card
        from imgclf.engine.predictor import Prediction

        pred = Prediction("mug.png", "ants", 0.97, "unfamiliar", (("ants", 0.97), ("bees", 0.03)), (0.97, 0.03), 0.71)
        analysis = Analysis(InputImage("mug.png", b"x"), Image.new("RGB", (32, 32)))
        render_card(analysis, pred, Shown(("ants", "bees"), 0.9, 0.55, 0.4))

    at = AppTest.from_function(script).run()
    assert not at.exception, at.exception
    assert at.markdown[0].value == "**Doesn't look like ants or bees**", "the verdict comes first"
    text = all_text(at)
    assert ":gray[model's guess: ants]" in text and "Unfamiliarity 0.71 (limit 0.55)" in text


def test_uploader_is_usable_when_the_model_cannot_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGCLF_WEIGHTS", str(tmp_path / "missing.weights.h5"))
    at = open_page(tmp_path / "no-runs", "classify")
    assert uploader(at), "the uploader is drawn before the model loads"
    assert any("not available on this server" in e.value for e in at.error)
    assert "WeightsError" not in all_text(at) and str(tmp_path) not in all_text(at)


@pytest.mark.integration
def test_imagenet_mode_without_runs(tmp_path: Path) -> None:
    if not os.environ.get("IMGCLF_WEIGHTS"):
        pytest.skip("IMGCLF_WEIGHTS is not set (the pretrained ResNet50 weights)")
    at = open_page(tmp_path / "no-runs", "classify")
    assert at.sidebar.selectbox(key="model_picker").value == "imagenet"
    assert any("1000 ImageNet classes" in i.value for i in at.info)
    samples = at.multiselect(key="samples")
    samples.select(next(o for o in samples.options if o.startswith("bees/149973093"))).run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "bee"
