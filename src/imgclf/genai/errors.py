"""Errors of the generative-AI layer: one clear message per failure, never the API key.

Every provider maps its SDK's exceptions onto :class:`GenAIError` with a ``kind`` the app can react to:
``config``, ``auth``, ``model``, ``connection``, ``timeout`` (one call's tries, or the whole analysis'
deadline), ``rate_limit``, ``server``, ``refused`` or ``response`` (a reply that is not the API's JSON, such
as a web page from a wrong base URL).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imgclf.errors import ImgclfError

if TYPE_CHECKING:
    from imgclf.genai.config import GenAISettings
    from imgclf.genai.deadline import DeadlineExceeded

__all__ = [
    "GenAIError",
    "connection_error",
    "deadline_error",
    "looks_like_html",
    "redact",
    "response_error",
    "status_error",
    "timeout_error",
]

# Things that look like API keys (OpenAI "sk-...", Google "AIza...") even when a server echoes them masked.
_KEY_PATTERN = re.compile(r"(sk-|AIza)[A-Za-z0-9_\-*.]{4,}")
_DETAIL_CHARS = 300
_HTML_PATTERN = re.compile(r"<\s*(!doctype\s+html|html|head|body|title)\b", re.IGNORECASE)


class GenAIError(ImgclfError):
    """A generative-AI call or setting failed; ``kind`` names the failure for the caller."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def redact(text: str, api_key: str | None = None) -> str:
    """``text`` without ``api_key`` or anything shaped like a key, cut to a readable length."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    text = _KEY_PATTERN.sub("[redacted]", text)
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."


def _env_name(field: str) -> str:
    from imgclf.genai.config import ENV_NAMES  # config imports this module: look the name up when needed

    return ENV_NAMES[field]


def _tries(settings: GenAISettings) -> str:
    n = settings.max_retries + 1
    return f"{n} tr{'y' if n == 1 else 'ies'}"


def status_error(settings: GenAISettings, code: int, detail: str, *, bad_key: bool = False) -> GenAIError:
    """The error for an HTTP status ``code`` answered by the provider (``bad_key`` forces the key message)."""
    who = settings.label
    if bad_key or code in (401, 403):
        where = " or ".join(settings.key_names)
        return GenAIError(
            "auth",
            f"{who} rejected the API key (HTTP {code}). Check {where} in the environment, "
            "Streamlit secrets or the Settings page.",
        )
    if code == 404:
        hint = f" For Ollama, run 'ollama pull {settings.model}'." if settings.provider == "openai" else ""
        return GenAIError(
            "model", f"{who}: model '{settings.model}' was not found (HTTP 404). Check the model name.{hint}"
        )
    if code == 429:
        return GenAIError(
            "rate_limit",
            f"{who} is rate-limiting requests (HTTP 429), still after {_tries(settings)}. "
            "Wait a minute and try again, or check your plan's quota.",
        )
    if code >= 500:
        return GenAIError(
            "server", f"{who} had a server error (HTTP {code}) after {_tries(settings)}. Try again later."
        )
    detail = redact(detail, settings.api_key) or "no details"
    return GenAIError("refused", f"{who} refused the request (HTTP {code}): {detail}")


def connection_error(settings: GenAISettings) -> GenAIError:
    """The error for a server that cannot be reached (refused connection, unknown host)."""
    hint = " Is the server running (for Ollama: 'ollama serve')?" if settings.base_url else " Check your network."
    return GenAIError("connection", f"Cannot connect to {settings.label} at {settings.endpoint}.{hint}")


def timeout_error(settings: GenAISettings, part: str) -> GenAIError:
    """The error for a ``part`` call whose tries each waited ``settings.timeout_s`` for the server in vain."""
    return GenAIError(
        "timeout",
        f"{settings.label} did not answer within {settings.timeout_s:g} s ({_tries(settings)}) for the {part} at "
        f"{settings.endpoint}. Try again, raise the timeout ({_env_name('timeout_s')}), or pick a faster model.",
    )


def deadline_error(settings: GenAISettings, exc: DeadlineExceeded) -> GenAIError:
    """The error for the ``part`` call that was still waiting when the analysis' deadline passed."""
    call, name = exc.call, _env_name("deadline_s")
    if exc.waited_s is None:
        spent = "while waiting for it"
    elif exc.waited_s < 0.05:
        spent = "before it could start"
    else:
        spent = f"after {exc.waited_s:.1f} s of waiting for it"
    return GenAIError(
        "timeout",
        f"{settings.label}: the {call.part} call to {settings.endpoint} timed out: the analysis reached its "
        f"{call.deadline.seconds:g} s deadline ({name}) {spent}. The server is too slow, or it keeps "
        f"the connection open without answering. Raise {name} (environment, Streamlit secrets or "
        "the Settings page), pick a faster model, or check the server.",
    )


def looks_like_html(text: str) -> bool:
    """Whether ``text`` is (the start of) a web page rather than an API's JSON."""
    return _HTML_PATTERN.search(text[:2000]) is not None


def response_error(settings: GenAISettings, part: str, body: str) -> GenAIError:
    """The error for a reply that is not the provider API's JSON: a web page, text, another API's answer."""
    api = "the Gemini API" if settings.provider == "gemini" else "an OpenAI-compatible API"
    hint = (
        "leave it empty for Google's server"
        if settings.provider == "gemini"
        else "it usually ends in /v1, e.g. http://localhost:11434/v1 for Ollama"
    )
    check = f"Check that {settings.endpoint} serves {api}: is the base URL right ({_env_name('base_url')}; {hint})?"
    if looks_like_html(body):
        return GenAIError(
            "response",
            f"The server at {settings.endpoint} answered the {part} call with an HTML page, not a JSON reply. {check}",
        )
    detail = redact(body.strip(), settings.api_key) or "an empty reply"
    return GenAIError(
        "response", f"{settings.label} sent a reply to the {part} call that could not be read ({detail}). {check}"
    )
