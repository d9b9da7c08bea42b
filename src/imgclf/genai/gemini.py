"""Google Gemini through the ``google-genai`` SDK (its own timeout and retry options)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from imgclf.genai.config import GenAISettings
from imgclf.genai.errors import connection_error, response_error, status_error, timeout_error
from imgclf.genai.messages import Message

__all__ = ["GeminiProvider"]

# Transport failures of httpx / httpx2 (whichever the SDK uses), recognised by class name.
_TIMEOUTS = frozenset({"TimeoutException"})
_NETWORK = frozenset({"NetworkError", "ConnectError", "RemoteProtocolError"})


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _bad_key(exc: genai_errors.APIError) -> bool:
    """Gemini answers a wrong key with HTTP 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    return "API_KEY_INVALID" in str(exc.details) or "API key not valid" in str(exc.message or "")


@contextlib.contextmanager
def _translated(settings: GenAISettings) -> Iterator[None]:
    """Turn the SDK's and the transport's exceptions into ``GenAIError``."""
    try:
        yield
    except genai_errors.APIError as exc:
        raise status_error(
            settings, int(exc.code or 0), str(exc.message or exc.details), bad_key=_bad_key(exc)
        ) from exc
    except (genai_errors.UnknownApiResponseError, json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise response_error(settings, str(exc)) from exc
    except Exception as exc:
        names = _class_names(exc)
        if names & _TIMEOUTS:
            raise timeout_error(settings) from exc
        if names & _NETWORK:
            raise connection_error(settings) from exc
        raise


def _contents(messages: Sequence[Message]) -> list[types.Content]:
    contents = []
    for message in messages:
        parts = [types.Part.from_text(text=message.text)]
        if message.image is not None:
            parts.append(types.Part.from_bytes(data=message.image.data, mime_type=message.image.mime_type))
        contents.append(types.Content(role="model" if message.role == "assistant" else "user", parts=parts))
    return contents


class GeminiProvider:
    """Gemini models (vision and text) with streaming and JSON-schema answers."""

    def __init__(self, settings: GenAISettings):
        self.settings = settings
        retry = types.HttpRetryOptions(
            attempts=settings.max_retries + 1, initial_delay=settings.backoff_s, max_delay=30.0, jitter=0.2
        )
        options = types.HttpOptions(
            base_url=settings.base_url, timeout=max(1, int(settings.timeout_s * 1000)), retry_options=retry
        )
        self._client = genai.Client(api_key=settings.api_key, http_options=options)

    @property
    def label(self) -> str:
        """``gemini/model``."""
        return self.settings.label

    def stream(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        """The reply as text chunks, from ``:streamGenerateContent?alt=sse``."""
        config = types.GenerateContentConfig(system_instruction=system or None)
        with _translated(self.settings):
            chunks = self._client.models.generate_content_stream(
                model=self.settings.model, contents=_contents(messages), config=config
            )
            for chunk in chunks:
                if chunk.text:
                    yield chunk.text

    def complete_json(self, system: str, messages: Sequence[Message], schema: Mapping[str, Any]) -> str:
        """The reply as JSON constrained by ``schema`` (``responseJsonSchema``)."""
        config = types.GenerateContentConfig(
            system_instruction=system or None, response_mime_type="application/json", response_json_schema=dict(schema)
        )
        with _translated(self.settings):
            response = self._client.models.generate_content(
                model=self.settings.model, contents=_contents(messages), config=config
            )
            return response.text or ""
