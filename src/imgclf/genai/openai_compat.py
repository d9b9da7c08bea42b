"""OpenAI-compatible chat completions through the ``openai`` SDK: OpenAI, Ollama, vLLM, LM Studio.

``base_url`` picks the server (Ollama: ``http://localhost:11434/v1``); images travel as ``image_url``
content parts holding a base64 data URL. Retries (429, 5xx, with backoff and Retry-After) are the SDK's
own; each call gets a fresh client whose timeouts end near the analysis' deadline, and
:func:`~imgclf.genai.deadline.bounded` stops waiting at the deadline itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import openai

from imgclf.genai.config import GenAISettings
from imgclf.genai.deadline import Call, DeadlineExceeded, bounded
from imgclf.genai.errors import connection_error, deadline_error, response_error, status_error, timeout_error
from imgclf.genai.messages import Message

__all__ = ["OpenAIProvider"]

T = TypeVar("T")

# Local servers (Ollama, LM Studio, vLLM) need no key, but the SDK insists on one.
LOCAL_PLACEHOLDER_KEY = "not-needed"


@contextlib.contextmanager
def _translated(settings: GenAISettings, call: Call) -> Iterator[None]:
    """Turn the SDK's exceptions and a passed deadline into ``GenAIError``."""
    try:
        yield
    except DeadlineExceeded as exc:
        raise deadline_error(settings, exc) from exc
    except openai.APITimeoutError as exc:
        if call.deadline.remaining() <= 0:  # a try cut short at the deadline (its timeout ends just after it)
            raise deadline_error(settings, DeadlineExceeded(call)) from exc
        raise timeout_error(settings, call.part) from exc
    except openai.APIConnectionError as exc:
        raise connection_error(settings) from exc
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        raise status_error(settings, exc.status_code, str(body.get("message") or exc.message)) from exc
    except openai.APIResponseValidationError as exc:
        raise response_error(settings, call.part, str(exc.body or exc)) from exc
    except json.JSONDecodeError as exc:
        raise response_error(settings, call.part, exc.doc) from exc


def _choices(reply: object, settings: GenAISettings, call: Call) -> list[Any]:
    """The ``choices`` of a reply; anything else (a web page, another API's JSON) raises ``GenAIError``."""
    choices = getattr(reply, "choices", None) if isinstance(reply, openai.BaseModel) else None
    if not isinstance(choices, list):
        body = reply if isinstance(reply, str) else json.dumps(getattr(reply, "model_extra", None) or {})
        raise response_error(settings, call.part, body)
    return choices


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

    @property
    def label(self) -> str:
        """``openai/model``."""
        return self.settings.label

    def _client(self, call: Call) -> openai.OpenAI:
        """A client for one call, its waits cut to end near the deadline (closed to abandon the call)."""
        return openai.OpenAI(
            api_key=self.settings.api_key or LOCAL_PLACEHOLDER_KEY,
            base_url=self.settings.base_url,
            timeout=call.deadline.cap(self.settings.timeout_s),
            max_retries=self.settings.max_retries,
        )

    def _run(self, call: Call, ask: Callable[[openai.OpenAI], Iterator[T]]) -> Iterator[T]:
        """``ask(client)`` in a worker thread, within ``call``'s deadline, with errors translated."""
        with _translated(self.settings, call):
            yield from bounded(call, self._client(call), ask)

    def stream(self, system: str, messages: Sequence[Message], call: Call) -> Iterator[str]:
        """The reply as text chunks (``stream: true``, server-sent events), within ``call``'s deadline."""

        def ask(client: openai.OpenAI) -> Iterator[str]:
            chunks = client.chat.completions.create(
                model=self.settings.model, messages=_messages(system, messages), stream=True
            )
            if "event-stream" not in chunks.response.headers.get("content-type", ""):  # a web page, plain JSON
                raise response_error(self.settings, call.part, chunks.response.read().decode(errors="replace"))
            for chunk in chunks:
                choices = _choices(chunk, self.settings, call)
                delta = choices[0].delta.content if choices else None
                if delta:
                    yield delta

        return self._run(call, ask)

    def complete_json(self, system: str, messages: Sequence[Message], schema: Mapping[str, Any], call: Call) -> str:
        """The reply as JSON: a ``json_schema`` response format, or plain text where the server refuses it."""
        request = {"model": self.settings.model, "messages": _messages(system, messages)}
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": dict(schema), "strict": True},
        }

        def ask(client: openai.OpenAI) -> Iterator[str]:
            try:
                reply = client.chat.completions.create(**request, response_format=response_format)
            except openai.BadRequestError:
                # Older local servers reject response_format; the prompt asks for JSON anyway.
                reply = client.chat.completions.create(**request)
            choices = _choices(reply, self.settings, call)
            yield (choices[0].message.content or "") if choices else ""

        return "".join(self._run(call, ask))
