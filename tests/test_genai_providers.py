"""Gemini and OpenAI-compatible providers against local fake servers speaking the real REST shapes."""

from __future__ import annotations

import base64
import json
import time

import pytest

from fakes import DEFAULT_TEXT, Reply
from genai_helpers import SECRET, png_bytes, sample_prediction, settings_for, start_fake
from imgclf.genai.analysis import AnalysisRequest, second_opinion, stream_chat, stream_description, stream_insights
from imgclf.genai.context import RunContext
from imgclf.genai.errors import GenAIError
from imgclf.genai.messages import Message, prepare_image
from imgclf.genai.providers import make_provider

PROVIDERS = ("gemini", "openai")
CLASSES = ("ants", "bees", "wasps")


def _request(settings) -> AnalysisRequest:
    context = RunContext(
        classes=("ants", "bees", "wasps"),
        matrix_labels=("ants", "bees", "wasps"),
        counts=((9, 1, 0), (0, 8, 2), (0, 3, 7)),
    )
    return AnalysisRequest(sample_prediction(), prepare_image(png_bytes()), context, settings, (0.2, 0.8))


def _sent_image(provider: str, body: dict) -> tuple[bytes, str]:
    if provider == "gemini":
        inline = body["contents"][0]["parts"][1]["inlineData"]
        # The SDK writes URL-safe base64 and mime_type; the REST API's JSON mapping accepts both spellings.
        return base64.b64decode(inline["data"], altchars=b"-_"), inline.get("mimeType", inline.get("mime_type"))
    url = body["messages"][-1]["content"][1]["image_url"]["url"]
    header, data = url.split(",", 1)
    return base64.b64decode(data), header.removeprefix("data:").removesuffix(";base64")


def _prompt_text(provider: str, body: dict) -> str:
    if provider == "gemini":
        system = body.get("systemInstruction", {}).get("parts", [{}])[0].get("text", "")
        return system + " ".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
    return json.dumps(body["messages"])


def test_streamed_description_assembles_and_carries_image_and_prediction(fake):
    settings = settings_for(fake, fake.provider)
    chunks = list(stream_description(make_provider(settings), _request(settings)))
    assert len(chunks) == 3 and "".join(chunks) == DEFAULT_TEXT
    (sent,) = fake.requests
    assert (
        ("streamGenerateContent" in sent.path and "alt=sse" in sent.path)
        if fake.provider == "gemini"
        else sent.body["stream"]
    )
    data, mime = _sent_image(fake.provider, sent.body)
    assert data == png_bytes() and mime == "image/png"
    prompt = _prompt_text(fake.provider, sent.body)
    assert "bees" in prompt and "87%" in prompt and "wasps" in prompt
    assert SECRET not in prompt


def test_api_key_travels_only_in_the_auth_header(fake):
    settings = settings_for(fake, fake.provider)
    list(stream_description(make_provider(settings), _request(settings)))
    (sent,) = fake.requests
    header = sent.headers.get("x-goog-api-key") if fake.provider == "gemini" else sent.headers.get("authorization")
    assert header is not None and SECRET in header
    assert SECRET not in sent.path


def test_structured_second_opinion_is_requested_and_parsed(fake):
    fake.push(Reply(text=json.dumps({"verdict": "disagree", "label": "wasps", "reason": "Yellow and black bands."})))
    settings = settings_for(fake, fake.provider)
    opinion = second_opinion(make_provider(settings), _request(settings))
    assert (opinion.verdict, opinion.label, opinion.parsed) == ("disagree", "wasps", True)
    assert "bands" in opinion.reason
    body = fake.requests[0].body
    if fake.provider == "gemini":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["properties"]["verdict"]["enum"] == ["agree", "disagree", "cannot tell"]
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body.get("stream") is not True
    assert _sent_image(fake.provider, body)[0] == png_bytes()


def test_insights_are_text_only_and_use_the_confusion_matrix(fake):
    settings = settings_for(fake, fake.provider, domain="beekeeping")
    text = "".join(stream_insights(make_provider(settings), _request(settings)))
    assert text == DEFAULT_TEXT
    prompt = _prompt_text(fake.provider, fake.requests[0].body)
    assert "beekeeping" in prompt and "2 of 10 'bees' images were predicted as 'wasps'" in prompt
    assert "inlineData" not in json.dumps(fake.requests[0].body) and "image_url" not in prompt


def test_chat_sends_history_and_the_image_once(fake):
    settings = settings_for(fake, fake.provider)
    history = [Message("user", "What is it?"), Message("assistant", "A bee.")]
    answer = "".join(stream_chat(make_provider(settings), _request(settings), history, "Why not a wasp?"))
    assert answer == DEFAULT_TEXT
    body = json.dumps(fake.requests[0].body)
    assert "What is it?" in body and "A bee." in body and "Why not a wasp?" in body
    assert body.count("inlineData" if fake.provider == "gemini" else "data:image/png;base64,") == 1


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (Reply(status=401), "auth", "rejected the API key"),
        (Reply(status=404), "model", "'test-model' was not found"),
        (Reply(status=500), "server", "server error (HTTP 500)"),
        (Reply(hang=5), "timeout", "did not answer within 1 s (2 tries) for the image description"),
        (Reply(garbage=True), "response", "sent a reply to the image description call that could not be read"),
    ],
)
def test_each_failure_has_its_message(fake, reply, kind, words):
    fake.push(reply, reply)
    settings = settings_for(fake, fake.provider)
    started = time.monotonic()
    with pytest.raises(GenAIError) as info:
        "".join(stream_description(make_provider(settings), _request(settings)))
    assert info.value.kind == kind and words in str(info.value)
    assert SECRET not in str(info.value) and "sk-test" not in str(info.value)
    assert time.monotonic() - started < 8
    if kind in ("server", "timeout"):
        assert len(fake.requests) == 2  # one retry (max_retries=1), then the message
    if kind in ("auth", "model"):
        assert len(fake.requests) == 1  # never retried


def test_rate_limit_is_retried_then_succeeds(fake):
    fake.push(Reply(status=429))
    settings = settings_for(fake, fake.provider)
    assert "".join(stream_description(make_provider(settings), _request(settings))) == DEFAULT_TEXT
    assert len(fake.requests) == 2


def test_rate_limit_that_persists_says_so(fake):
    fake.push(Reply(status=429), Reply(status=429))
    settings = settings_for(fake, fake.provider)
    with pytest.raises(GenAIError, match=r"rate-limiting requests \(HTTP 429\), still after 2 tries") as info:
        second_opinion(make_provider(settings), _request(settings))
    assert info.value.kind == "rate_limit"


def test_gemini_invalid_key_shape_is_a_key_error():
    with start_fake("gemini") as server:
        server.push(Reply(status=400))
        settings = settings_for(server, "gemini")
        with pytest.raises(GenAIError, match="rejected the API key") as info:
            list(stream_description(make_provider(settings), _request(settings)))
    assert info.value.kind == "auth"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_refused_connection_has_its_message(provider):
    with start_fake(provider) as server:
        settings = settings_for(server, provider, max_retries=0)
    # The server is stopped: its port refuses connections.
    with pytest.raises(GenAIError, match="Cannot connect to") as info:
        list(stream_description(make_provider(settings), _request(settings)))
    assert info.value.kind == "connection" and settings.base_url in str(info.value)


def test_missing_key_is_a_config_error_before_any_request():
    with start_fake("gemini") as server:
        with pytest.raises(GenAIError, match="No API key for gemini/test-model") as info:
            make_provider(settings_for(server, "gemini", api_key=None))
        assert info.value.kind == "config" and server.requests == []


def test_local_openai_server_needs_no_key():
    with start_fake("openai") as server:
        settings = settings_for(server, "openai", api_key=None)
        assert "".join(stream_description(make_provider(settings), _request(settings))) == DEFAULT_TEXT


def test_openai_server_without_json_schema_support_falls_back_to_plain_json():
    with start_fake("openai") as server:
        server.push(
            Reply(status=400), Reply(text='Sure! ```json\n{"verdict": "agree", "label": "bees", "reason": "ok"}\n```')
        )
        settings = settings_for(server, "openai")
        opinion = second_opinion(make_provider(settings), _request(settings))
        assert opinion.verdict == "agree" and opinion.parsed
        assert "response_format" in server.requests[0].body and "response_format" not in server.requests[1].body
