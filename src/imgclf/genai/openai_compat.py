"""OpenAI-compatible chat completions through the ``openai`` SDK: OpenAI, Ollama, vLLM, LM Studio.

``base_url`` picks the server (Ollama: ``http://localhost:11434/v1``); images travel as ``image_url``
content parts holding a base64 data URL. Timeouts and retries (429, 5xx, with backoff and Retry-After)
are the SDK's own.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import openai

from imgclf.genai.config import GenAISettings
from imgclf.genai.errors import connection_error, response_error, status_error, timeout_error
from imgclf.genai.messages import Message

__all__ = ["OpenAIProvider"]

# Local servers (Ollama, LM Studio, vLLM) need no key, but the SDK insists on one.
LOCAL_PLACEHOLDER_KEY = "not-needed"


@contextlib.contextmanager
def _translated(settings: GenAISettings) -> Iterator[None]:
    """Turn the SDK's exceptions into ``GenAIError``."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise timeout_error(settings) from exc
    except openai.APIConnectionError as exc:
        raise connection_error(settings) from exc
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        raise status_error(settings, exc.status_code, str(body.get("message") or exc.message)) from exc
    except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
        raise response_error(settings, str(exc)) from exc


def _content(message: Message) -> str | list[dict[str, Any]]:
    if message.image is None:
        return message.text
    data = base64.b64encode(message.image.data).decode("ascii")
    return [
        {"type": "text", "text": message.text},
        {"type": "image_url", "image_url": {"url": f"data:{message.image.mime_type};base64,{data}"}},
    ]


def _messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    out += [{"role": m.role, "content": _content(m)} for m in messages]
    return out


class OpenAIProvider:
    """Any server speaking ``/v1/chat/completions``, with and without SSE streaming."""

    def __init__(self, settings: GenAISettings):
        self.settings = settings
        self._client = openai.OpenAI(
            api_key=settings.api_key or LOCAL_PLACEHOLDER_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    @property
    def label(self) -> str:
        """``openai/model``."""
        return self.settings.label

    def stream(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        """The reply as text chunks (``stream: true``, server-sent events)."""
        with _translated(self.settings):
            chunks = self._client.chat.completions.create(
                model=self.settings.model, messages=_messages(system, messages), stream=True
            )
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    yield delta

    def complete_json(self, system: str, messages: Sequence[Message], schema: Mapping[str, Any]) -> str:
        """The reply as JSON: a ``json_schema`` response format, or plain text where the server refuses it."""
        request = {"model": self.settings.model, "messages": _messages(system, messages)}
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": dict(schema), "strict": True},
        }
        with _translated(self.settings):
            try:
                response = self._client.chat.completions.create(**request, response_format=response_format)
            except openai.BadRequestError:
                # Older local servers reject response_format; the prompt asks for JSON anyway.
                response = self._client.chat.completions.create(**request)
            return (response.choices[0].message.content or "") if response.choices else ""
