"""The AI panel and the Settings page under Streamlit's AppTest, with fake providers (and one that is down)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from fakes import DEFAULT_TEXT, Reply
from genai_helpers import SECRET, png_bytes, start_fake

# AppTest's own 3 s default is too short for a first import of TensorFlow on a loaded CI machine.
APP_TIMEOUT_S = 30
KEY_VARS = ("IMGCLF_GENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def _panel_script(png: bytes) -> None:
    from genai_helpers import sample_prediction  # AppTest runs this body alone: imports go inside
    from imgclf.app.components.genai_panel import render_genai_panel

    prediction = sample_prediction()
    render_genai_panel(prediction=prediction, image_bytes=png, run_dir=None, heatmap_peak=(0.5, 0.2), key="img")


def _settings_script() -> None:
    from imgclf.app.pages.settings import render_settings_page

    render_settings_page()


def _settings_in_use_script() -> None:
    import streamlit as st

    from imgclf.app.pages.settings import current_settings, render_settings_page

    render_settings_page()
    settings = current_settings()  # what the AI panel resolves on its next run
    st.text(f"deadline {settings.deadline_s:g} s from {settings.sources['deadline_s']}")


@pytest.fixture()
def env(monkeypatch):
    for name in (*KEY_VARS, "IMGCLF_GENAI_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMGCLF_GENAI_TIMEOUT", "1")
    monkeypatch.setenv("IMGCLF_GENAI_RETRIES", "0")
    return monkeypatch


def _configure(env, server, provider: str) -> None:
    env.setenv("IMGCLF_GENAI_PROVIDER", provider)
    env.setenv("IMGCLF_GENAI_MODEL", "test-model")
    env.setenv("IMGCLF_GENAI_API_KEY", SECRET)
    env.setenv("IMGCLF_GENAI_BASE_URL", server.url + ("/v1" if provider == "openai" else ""))


def _box(at: AppTest, label: str):
    """The Settings page's text box whose label starts with ``label``."""
    return next(t for t in at.text_input if t.label.startswith(label))


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def test_no_provider_shows_the_offline_analysis(env):
    env.setenv("IMGCLF_GENAI_PROVIDER", "none")
    at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception and not at.checkbox
    assert "**bees**, 87% confidence" in _texts(at) and "upper centre" in _texts(at)


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_streamed_analysis_second_opinion_insights_and_chat(env, provider):
    with start_fake(provider) as server:
        _configure(env, server, provider)
        opinion = {"verdict": "disagree", "label": "wasps", "reason": "Yellow and black bands."}
        server.push(
            Reply(), Reply(text=json.dumps(opinion)), Reply(text="Bees are fuzzy."), Reply(text="Look at the legs.")
        )
        at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
        assert at.checkbox[0].label == f"Send this image to {provider}/test-model?"
        assert server.requests == [] and "**bees**, 87% confidence" in _texts(at)  # nothing sent before consent
        at.checkbox[0].check().run()
        assert not at.exception
        text = _texts(at)
        assert DEFAULT_TEXT in text and "Bees are fuzzy." in text
        assert "bees, 87% confidence (ok)" in text and "disagree: wasps" in text
        assert at.warning[0].value == "Yellow and black bands."
        assert len(server.requests) == 3
        at.chat_input[0].set_value("What should I check?").run()
        assert "Look at the legs." in _texts(at) and len(server.requests) == 4
        at.run()  # a rerun shows stored results without calling the model again
        assert len(server.requests) == 4 and "Look at the legs." in _texts(at)
        assert SECRET not in _texts(at)


def test_provider_that_is_down_keeps_the_panel_useful(env):
    with start_fake("openai") as server:
        _configure(env, server, "openai")
    at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
    at.checkbox[0].check().run()
    assert not at.exception
    assert "Cannot connect to openai/test-model" in at.error[0].value
    assert "**bees**, 87% confidence" in _texts(at)
    assert at.button[0].label == "Try again"


def test_trickling_server_is_cut_off_and_the_panel_says_which_call(env):
    env.setenv("IMGCLF_GENAI_TIMEOUT", "5")  # per read: a byte a second never trips it
    env.setenv("IMGCLF_GENAI_DEADLINE", "2")
    with start_fake("openai") as server:
        _configure(env, server, "openai")
        server.push(Reply(trickle=120))
        at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
        at.checkbox[0].check().run()  # without the deadline it outlasts APP_TIMEOUT_S and fails
    assert not at.exception
    error = at.error[0].value
    assert "the image description call to http://127.0.0.1:" in error and "timed out" in error
    assert "2 s deadline (IMGCLF_GENAI_DEADLINE)" in error
    assert "**bees**, 87% confidence" in _texts(at) and at.button[0].label == "Try again"


def test_web_page_instead_of_the_api_is_reported_in_the_panel(env):
    with start_fake("gemini") as server:
        _configure(env, server, "gemini")
        server.push(Reply(html=True))
        at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
        at.checkbox[0].check().run()
    assert not at.exception
    assert "answered the image description call with an HTML page, not a JSON reply" in at.error[0].value
    assert "**bees**, 87% confidence" in _texts(at) and at.button[0].label == "Try again"


def test_bad_setting_is_reported_and_offline_analysis_shown(env):
    env.setenv("IMGCLF_GENAI_PROVIDER", "claude")
    at = AppTest.from_function(_panel_script, args=(png_bytes(),), default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception and "is not a provider" in at.error[0].value
    assert "**bees**, 87% confidence" in _texts(at)


def test_settings_page_stores_values_for_the_session_and_hides_the_key(env):
    env.delenv("IMGCLF_GENAI_PROVIDER", raising=False)
    at = AppTest.from_function(_settings_script, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    at.selectbox[0].set_value("openai")
    at.text_input[0].set_value("llava")  # model
    at.text_input[1].set_value("http://localhost:11434/v1")  # base URL
    at.text_input[-1].set_value(SECRET)  # API key
    at.button[0].click().run()
    assert not at.exception
    stored = at.session_state["imgclf_genai_settings"]
    assert stored["IMGCLF_GENAI_PROVIDER"] == "openai" and stored["IMGCLF_GENAI_MODEL"] == "llava"
    assert "In use: **openai/llava**" in at.info[0].value and "API key set" in at.info[0].value
    assert all(SECRET not in str(t.value) for t in at.text_input)
    timeout_box = _box(at, "Timeout")
    assert timeout_box.disabled  # IMGCLF_GENAI_TIMEOUT is set in the environment


def test_settings_page_saves_the_deadline_that_analyses_then_use(env):
    at = AppTest.from_function(_settings_in_use_script, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception and at.text[0].value == "deadline 45 s from default"
    _box(at, "Deadline").set_value("120")
    at.button[0].click().run()
    assert not at.exception and not at.error and not at.warning
    assert at.session_state["imgclf_genai_settings"]["IMGCLF_GENAI_DEADLINE"] == "120"
    assert at.text[0].value == "deadline 120 s from Settings page (IMGCLF_GENAI_DEADLINE)"


@pytest.mark.parametrize("bad", ["soon", "-3", "0"])
def test_settings_page_refuses_a_bad_deadline_and_saves_nothing(env, bad):
    at = AppTest.from_function(_settings_in_use_script, default_timeout=APP_TIMEOUT_S).run()
    _box(at, "Model").set_value("llava")
    _box(at, "Deadline").set_value(bad)
    at.button[0].click().run()
    assert not at.exception
    assert "imgclf_genai_settings" not in at.session_state, "nothing is stored, not even the good model"
    assert [e.value for e in at.error] == [f"'{bad}' cannot be used; enter a positive number of seconds, e.g. 45."]
    assert any("Nothing was saved" in w.value for w in at.warning)
    assert _box(at, "Deadline").value == bad, "kept for fixing"
    assert at.text[0].value == "deadline 45 s from default"
