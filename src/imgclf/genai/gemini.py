"""Google Gemini through the ``google-genai`` SDK.

Retries are the SDK's own; each call gets a fresh client whose timeouts end near the analysis' deadline, and
:func:`~imgclf.genai.deadline.bounded` stops waiting at the deadline itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from imgclf.genai.config import GenAISettings
from imgclf.genai.deadline import Call, DeadlineExceeded, bounded
from imgclf.genai.errors import connection_error, deadline_error, response_error, status_error, timeout_error
from imgclf.genai.messages import Message

__all__ = ["GeminiProvider"]

T = TypeVar("T")

# Transport failures of httpx / httpx2 (whichever the SDK uses), recognised by class name.
_TIMEOUTS = frozenset({"TimeoutException"})
_NETWORK = frozenset({"NetworkError", "ConnectError", "RemoteProtocolError"})
_NO_ANSWER = "JSON without candidates or prompt feedback, so not a generateContent answer"


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _answered(response: types.GenerateContentResponse) -> bool:
    """Whether ``response`` has the API's shape: candidates, or the feedback on a blocked prompt."""
    return response.candidates is not None or response.prompt_feedback is not None


def _bad_key(exc: genai_errors.APIError) -> bool:
    """Gemini answers a wrong key with HTTP 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    return "API_KEY_INVALID" in str(exc.details) or "API key not valid" in str(exc.message or "")


@contextlib.contextmanager
def _translated(settings: GenAISettings, call: Call) -> Iterator[None]:
    """Turn the SDK's and the transport's exceptions, and a passed deadline, into ``GenAIError``."""
    try:
        yield
    except DeadlineExceeded as exc:
        raise deadline_error(settings, exc) from exc
    except genai_errors.APIError as exc:
        raise status_error(
            settings, int(exc.code or 0), str(exc.message or exc.details), bad_key=_bad_key(exc)
        ) from exc
    except json.JSONDecodeError as exc:
        raise response_error(settings, call.part, exc.doc) from exc
    except (genai_errors.UnknownApiResponseError, pydantic.ValidationError) as exc:
        raise response_error(settings, call.part, str(exc)) from exc
    except Exception as exc:
        names = _class_names(exc)
        if names & _TIMEOUTS:
            if call.deadline.remaining() <= 0:  # a try cut short at the deadline (its timeout ends just after it)
                raise deadline_error(settings, DeadlineExceeded(call)) from exc
            raise timeout_error(settings, call.part) from exc
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

    @property
    def label(self) -> str:
        """``gemini/model``."""
        return self.settings.label

    def _client(self, call: Call) -> genai.Client:
        """A client for one call, its waits cut to end near the deadline (closed to abandon the call)."""
        settings = self.settings
        retry = types.HttpRetryOptions(
            attempts=settings.max_retries + 1, initial_delay=settings.backoff_s, max_delay=30.0, jitter=0.2
        )
        timeout_ms = max(1, int(call.deadline.cap(settings.timeout_s) * 1000))
        options = types.HttpOptions(base_url=settings.base_url, timeout=timeout_ms, retry_options=retry)
        return genai.Client(api_key=settings.api_key, http_options=options)

    def _run(self, call: Call, ask: Callable[[genai.Client], Iterator[T]]) -> Iterator[T]:
        """``ask(client)`` in a worker thread, within ``call``'s deadline, with errors translated."""
        with _translated(self.settings, call):
            yield from bounded(call, self._client(call), ask)

    def stream(self, system: str, messages: Sequence[Message], call: Call) -> Iterator[str]:
        """The reply as text chunks, from ``:streamGenerateContent?alt=sse``, within ``call``'s deadline."""
        config = types.GenerateContentConfig(system_instruction=system or None)

        def ask(client: genai.Client) -> Iterator[str]:
            chunks = client.models.generate_content_stream(
                model=self.settings.model, contents=_contents(messages), config=config
            )
            answered = False
            for chunk in chunks:
                answered = answered or _answered(chunk)
                if chunk.text:
                    yield chunk.text
            if not answered:
                raise response_error(self.settings, call.part, _NO_ANSWER)

        return self._run(call, ask)

    def complete_json(self, system: str, messages: Sequence[Message], schema: Mapping[str, Any], call: Call) -> str:
        """The reply as JSON constrained by ``schema`` (``responseJsonSchema``), within ``call``'s deadline."""
        config = types.GenerateContentConfig(
            system_instruction=system or None, response_mime_type="application/json", response_json_schema=dict(schema)
        )

        def ask(client: genai.Client) -> Iterator[str]:
            response = client.models.generate_content(
                model=self.settings.model, contents=_contents(messages), config=config
            )
            if not _answered(response):
                raise response_error(self.settings, call.part, _NO_ANSWER)
            yield response.text or ""

        return "".join(self._run(call, ask))
