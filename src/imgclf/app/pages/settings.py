"""Settings page: choose the generative-AI provider, model, server, time limits and key for this browser session.

Precedence, per setting: environment variables, then Streamlit secrets (same names, top level of
``.streamlit/secrets.toml``), then this page. Values set in the first two are shown locked. Keys typed here
live only in this session's memory: never written to disk, logged, stored in run folders or shown back.
Use as a page script (``st.Page("pages/settings.py")``) or call :func:`render_settings_page`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from imgclf.genai.config import ENV_NAMES, KEY_NAMES, PROVIDERS, GenAISettings, Layer, resolve_settings
from imgclf.genai.errors import GenAIError

__all__ = ["SESSION_KEY", "current_settings", "field_problem", "render_settings_page", "settings_layers"]

SESSION_KEY = "imgclf_genai_settings"
API_KEY_NAME = "IMGCLF_GENAI_API_KEY"
_TEXT_FIELDS = (
    ("model", "Model", "Empty = the provider's default (gemini-3.8-flash, gpt-6-luna); Ollama: e.g. llava."),
    ("base_url", "Base URL", "OpenAI-compatible servers only, e.g. http://localhost:11434/v1 for Ollama."),
    ("domain", "Your domain", "What the photos are about, e.g. 'beekeeping'; it tunes the class insights."),
    ("timeout_s", "Timeout (seconds)", "How long to wait for each answer (default 60)."),
    (
        "deadline_s",
        "Deadline (seconds)",
        "How long one whole analysis may take: all its calls, retries and streamed answers (default 45).",
    ),
    ("max_retries", "Retries", "Retries on rate limits (429) and server errors (5xx), with backoff (default 2)."),
    ("prompts_dir", "Prompt folder", "A folder of edited prompt templates (optional)."),
)
_EXPECTED = {
    "timeout_s": "a number of seconds, e.g. 60",
    "deadline_s": "a positive number of seconds, e.g. 45",
    "max_retries": "a whole number, 0 or more, e.g. 2",
}
DRAFT_KEY = "imgclf_genai_settings_draft"  # (values typed, problems by field) of a refused Save


def _secrets() -> dict[str, Any]:
    try:
        return {k: v for k, v in st.secrets.to_dict().items() if isinstance(v, str | int | float)}
    except FileNotFoundError:  # no secrets.toml: nothing to read
        return {}


def settings_layers() -> list[Layer]:
    """The sources of settings, highest precedence first."""
    return [
        ("environment", os.environ),
        ("Streamlit secrets", _secrets()),
        ("Settings page", st.session_state.get(SESSION_KEY, {})),
    ]


def current_settings() -> GenAISettings:
    """The provider settings in force now (raises ``GenAIError`` for a bad value, naming its source)."""
    return resolve_settings(settings_layers())


def _locked(names: list[str], layers: list[Layer]) -> str | None:
    for source, values in layers[:2]:
        for name in names:
            if str(values.get(name) or "").strip():
                return f"{source} ({name})"
    return None


def field_problem(field: str, value: str) -> str | None:
    """Why ``value`` cannot be used for ``field`` (checked like every other source), or ``None``."""
    text = str(value).strip()
    if not text:
        return None
    if field == "base_url" and not text.startswith(("http://", "https://")):
        return f"'{text}' is not a web address; it must start with http:// or https://."
    if field in _EXPECTED:
        try:
            resolve_settings([("Settings page", {ENV_NAMES[field]: text})])
        except GenAIError:
            return f"'{text}' cannot be used; enter {_EXPECTED[field]}."
    return None


def _form(saved: Mapping[str, Any], layers: list[Layer], provider_now: str) -> dict[str, Any] | None:
    """The form, showing a refused draft (with each problem under its field); the values when Save is pressed."""
    draft, problems = st.session_state.get(DRAFT_KEY, (saved, {}))
    with st.form("genai-settings"):
        lock = _locked([ENV_NAMES["provider"]], layers)
        current = str(draft.get(ENV_NAMES["provider"]) or provider_now)
        provider = st.selectbox(
            "Provider", PROVIDERS, index=PROVIDERS.index(current) if current in PROVIDERS else 2, disabled=bool(lock)
        )
        values: dict[str, Any] = {ENV_NAMES["provider"]: provider}
        for field, title, help_text in _TEXT_FIELDS:
            name = ENV_NAMES[field]
            lock = _locked([name], layers)
            values[name] = st.text_input(title, value=str(draft.get(name) or ""), help=help_text, disabled=bool(lock))
            if lock:
                st.caption(f"Set by {lock}; change it there.")
            elif field in problems:
                st.error(problems[field], icon=":material/error:")
        key_lock = _locked(list(KEY_NAMES["gemini"] + KEY_NAMES["openai"]), layers)
        has_key = bool(saved.get(API_KEY_NAME))
        typed = st.text_input(
            "API key",
            type="password",
            value="",
            placeholder="a key is stored for this session; leave empty to keep it" if has_key else "",
            disabled=bool(key_lock),
            help="Kept in this browser session's memory only; never saved or shown again.",
        )
        forget = st.checkbox("Forget the stored key", value=False, disabled=not has_key)
        if not st.form_submit_button("Save"):
            return None
    if typed:
        values[API_KEY_NAME] = typed
    elif has_key and not forget:
        values[API_KEY_NAME] = saved[API_KEY_NAME]
    return {k: v for k, v in values.items() if str(v).strip()}


def _store(submitted: dict[str, Any]) -> None:
    """Keep ``submitted`` for the session if every field is usable; else keep it as a draft with its problems."""
    problems = {
        field: problem
        for field, _, _ in _TEXT_FIELDS
        if (problem := field_problem(field, submitted.get(ENV_NAMES[field], ""))) is not None
    }
    if problems:
        draft = {k: v for k, v in submitted.items() if k != API_KEY_NAME}
        st.session_state[DRAFT_KEY] = (draft, problems)
    else:
        st.session_state.pop(DRAFT_KEY, None)
        st.session_state[SESSION_KEY] = submitted


def render_settings_page() -> None:
    """The Settings page (generative-AI section)."""
    st.title("Settings")
    st.header("Generative AI")
    st.write(
        "Optional: a vision model can describe each image, give a second opinion on the label and answer "
        "questions. Nothing is sent until you tick the consent box for an image on the Classify page."
    )
    layers = settings_layers()
    try:
        settings = current_settings()
    except GenAIError as exc:
        st.error(str(exc))
        settings = GenAISettings()
    saved = st.session_state.get(SESSION_KEY, {})
    submitted = _form(saved, layers, settings.provider)
    if submitted is not None:
        _store(submitted)
        st.rerun()
    if DRAFT_KEY in st.session_state:
        st.warning("Nothing was saved: fix the fields marked above (the settings in use are unchanged).")
    key_state = "set" if settings.api_key else "not set"
    origin = settings.sources.get("provider", "default")
    st.info(f"In use: **{settings.label}** (provider from {origin}); API key {key_state}.")
    st.caption(
        "Precedence: environment variables, then Streamlit secrets, then this page. "
        "Gemini needs GEMINI_API_KEY; OpenAI needs OPENAI_API_KEY; Ollama needs provider 'openai', "
        "base URL http://localhost:11434/v1 and a vision model such as llava. See docs/GENAI.md."
    )


if __name__ == "__main__":  # run by Streamlit as a page script
    render_settings_page()
