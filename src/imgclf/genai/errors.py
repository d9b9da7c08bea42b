"""Errors of the generative-AI layer: one clear message per failure, never the API key.

Every provider maps its SDK's exceptions onto :class:`GenAIError` with a ``kind`` the app can react to:
``config``, ``auth``, ``model``, ``connection``, ``timeout``, ``rate_limit``, ``server``, ``refused`` or
``response``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imgclf.errors import ImgclfError

if TYPE_CHECKING:
    from imgclf.genai.config import GenAISettings

__all__ = [
    "GenAIError",
    "connection_error",
    "redact",
    "response_error",
    "status_error",
    "timeout_error",
]

# Things that look like API keys (OpenAI "sk-...", Google "AIza...") even when a server echoes them masked.
_KEY_PATTERN = re.compile(r"(sk-|AIza)[A-Za-z0-9_\-*.]{4,}")
_DETAIL_CHARS = 300


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


def timeout_error(settings: GenAISettings) -> GenAIError:
    """The error for a provider that did not answer in time."""
    return GenAIError(
        "timeout",
        f"{settings.label} did not answer within {settings.timeout_s:g} s ({_tries(settings)}). Try again, "
        "raise the timeout in Settings (IMGCLF_GENAI_TIMEOUT), or pick a faster model.",
    )


def response_error(settings: GenAISettings, detail: str) -> GenAIError:
    """The error for a reply that is not the JSON the provider's API should send."""
    return GenAIError(
        "response",
        f"{settings.label} sent a reply that could not be read ({redact(detail, settings.api_key)}). "
        f"Check that {settings.endpoint} serves the {settings.provider} API.",
    )
