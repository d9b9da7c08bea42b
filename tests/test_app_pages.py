"""The Model and Settings pages through AppTest, the offline analysis of an evaluated run, and the tab icon."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app_helpers import all_text, open_page


@pytest.fixture()
def own_run(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run (evaluation writes into the run folder)."""
    return Path(shutil.copytree(tiny_run, tmp_path / "runs" / "tiny"))


@pytest.fixture(scope="module")
def evaluated_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run, evaluated once for this module."""
    import imgclf

    run = Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("evaluated") / "runs" / "tiny"))
    imgclf.evaluate(run)
    return run


def test_model_page_asks_for_evaluation_then_opens_with_the_verdict(own_run: Path) -> None:
    at = open_page(own_run.parent, "model")
    assert at.title[0].value == "Model report"
    assert any("Evaluate this run" in w.value for w in at.warning)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "training curves are charts"
    at.button(key="evaluate").click().run()
    assert not at.exception, at.exception
    assert not at.warning
    headline = next(m.value for m in at.markdown if m.value.startswith("#### Right on"))
    assert "of 18 test images" in headline
    text = all_text(at)
    assert "Chance is 33% (always answering the largest of 3 classes)" in text
    assert "the true accuracy likely lies between" in text and "After calibration, confidence is off by" in text
    labels = [m.label for m in at.metric]
    assert {"Accuracy", "Balanced accuracy", "Macro F1", "Calibration error (ECE)"} <= set(labels)
    assert at.metric[0].delta.endswith("vs chance")


def test_model_page_sections_are_shown_once_with_plain_names(evaluated_run: Path) -> None:
    at = open_page(evaluated_run.parent, "model")
    titles = [s.value for s in at.subheader]
    assert len(titles) == len(set(titles)), f"a section is duplicated: {titles}"
    assert {"Most confident errors", "Suspect labels", "Confusion matrix"} <= set(titles)
    per_class = next(d.value for d in at.dataframe if "Recall" in d.value)
    assert {"Precision", "Recall", "F1", "Images"} <= set(per_class.columns)
    for frame in (d.value for d in at.dataframe):
        assert not {"ood_score", "label_quality", "outlier_score"} & set(map(str, frame.columns))
    assert "0.000 vs uncalibrated" not in all_text(at)


def test_confusion_matrix_cells_open_their_images(evaluated_run: Path) -> None:
    at = open_page(evaluated_run.parent, "model")
    confusion = next(d.value for d in at.dataframe if d.value.index.name == "true")
    assert list(confusion.columns) == ["blue", "green", "red"] and confusion.to_numpy().sum() == 18
    at.session_state["confusion"] = {"selection": {"rows": [], "columns": [], "cells": [[2, "red"]]}}
    at.run()
    assert not at.exception, at.exception
    expected = int(confusion.loc["red", "red"])
    assert any(f"{expected} images: 'red' recognised" in m.value.replace("\\", "") for m in at.markdown)
    assert any(c.value.endswith("red/red_0.png") or "red/red_" in c.value.replace("\\", "") for c in at.caption)


def test_offline_analysis_knows_the_evaluation(evaluated_run: Path) -> None:
    """Defect 6: the reader expected a shape `evaluate` never writes, so accuracy and confusions were lost."""
    from imgclf.engine.predictor import Prediction
    from imgclf.genai.context import load_run_context
    from imgclf.genai.offline import offline_analysis

    pred = Prediction("x.png", "red", 0.9, "ok", (("red", 0.9), ("blue", 0.1)), (0.1, 0.0, 0.9))
    ctx = load_run_context(evaluated_run, pred)
    assert ctx.accuracy is not None and ctx.support("red") == 6
    text = offline_analysis(pred, ctx, None)
    assert "In evaluation" in text and "(calibrated)" in text
    assert "metrics.json" not in text and "Error" not in text and str(evaluated_run) not in text


def test_offline_analysis_of_an_unfamiliar_image_says_so_first(evaluated_run: Path) -> None:
    from imgclf.engine.predictor import Prediction
    from imgclf.genai.context import load_run_context
    from imgclf.genai.offline import offline_analysis

    pred = Prediction("mug.png", "red", 0.99, "unfamiliar", (("red", 0.99), ("blue", 0.01)), (0.01, 0.0, 0.99), 0.9)
    text = offline_analysis(pred, load_run_context(evaluated_run, pred), None)
    assert text.startswith("- **Doesn't look like blue, green or red.** Closest class: red")


def test_model_page_in_imagenet_mode_explains_itself(tmp_path: Path) -> None:
    at = open_page(tmp_path, "model")
    assert any("Train" in i.value for i in at.info)


def test_settings_refuses_a_value_it_cannot_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 5: Timeout 'abc' was saved and silently turned every provider off."""
    for name in ("IMGCLF_GENAI_PROVIDER", "IMGCLF_GENAI_TIMEOUT", "IMGCLF_GENAI_RETRIES", "IMGCLF_GENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    at = open_page(tmp_path, "settings")
    at.selectbox[0].set_value("openai")
    timeout = next(t for t in at.text_input if t.label.startswith("Timeout"))
    timeout.set_value("abc")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "imgclf_genai_settings" not in at.session_state, "nothing is stored"
    assert any("'abc' cannot be used; enter a number of seconds" in e.value for e in at.error)
    assert next(t for t in at.text_input if t.label.startswith("Timeout")).value == "abc", "kept for fixing"
    assert any("Nothing was saved" in w.value for w in at.warning)
    next(t for t in at.text_input if t.label.startswith("Timeout")).set_value("30")
    at.button[0].click().run()
    assert at.session_state["imgclf_genai_settings"]["IMGCLF_GENAI_TIMEOUT"] == "30"
    assert not at.error and not at.warning
