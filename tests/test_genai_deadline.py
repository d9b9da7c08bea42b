"""Every wait is bounded: one deadline per analysis over real HTTP, and replies that are not the API's JSON.

The fake servers trickle keep-alive bytes (which per-read timeouts never catch), answer slowly, or answer
200 with a web page. Time bounds are generous (a loaded CI machine); without the deadline these tests would
wait for the full trickle (a minute or more) and fail their bound.
"""

from __future__ import annotations

import threading
import time

import pytest

from fakes import DEFAULT_TEXT, Reply
from genai_helpers import png_bytes, sample_prediction, settings_for
from imgclf.genai.analysis import AnalysisRequest, second_opinion, stream_description, stream_insights
from imgclf.genai.config import GenAISettings, resolve_settings
from imgclf.genai.context import RunContext
from imgclf.genai.deadline import Call, Deadline, DeadlineExceeded, bounded
from imgclf.genai.errors import GenAIError, deadline_error
from imgclf.genai.messages import prepare_image
from imgclf.genai.providers import make_provider

TRICKLE_S = 90.0  # far longer than any bound below: a test that waits for it fails
BOUND_S = 15.0  # deadline 3 s plus slack for a loaded two-core machine
# One streamed and one plain JSON call, by the part names the messages use.
CALLS = {
    "image description": lambda provider, request: "".join(stream_description(provider, request)),
    "second opinion": lambda provider, request: second_opinion(provider, request).reason,
}


def _request(settings) -> AnalysisRequest:
    return AnalysisRequest(sample_prediction(), prepare_image(png_bytes()), RunContext(classes=("bees",)), settings)


def _run_all(provider, request, deadline: Deadline) -> str:
    """The three calls of an analysis under one deadline, as the CLI and the app make them."""
    text = "".join(stream_description(provider, request, deadline))
    second_opinion(provider, request, deadline)
    return text + "".join(stream_insights(provider, request, deadline))


def _workers_end(within_s: float = 10.0) -> bool:
    """Whether every abandoned call's worker thread has ended (its client was closed at the deadline)."""
    ends = time.monotonic() + within_s
    while time.monotonic() < ends:
        if not any(t.name.startswith("imgclf-genai") for t in threading.enumerate()):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("part", CALLS)
def test_trickling_server_is_cut_off_at_the_deadline(fake, part):
    fake.push(*[Reply(trickle=TRICKLE_S)] * 3)
    # A per-read timeout of 5 s never fires: a byte arrives every second.
    settings = settings_for(fake, fake.provider, timeout_s=5.0, deadline_s=3.0)
    started = time.monotonic()
    with pytest.raises(GenAIError) as info:
        CALLS[part](make_provider(settings), _request(settings))
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert info.value.kind == "timeout" and elapsed < BOUND_S
    assert f"the {part} call to {settings.endpoint} timed out" in message
    assert "3 s deadline (IMGCLF_GENAI_DEADLINE)" in message and "Raise IMGCLF_GENAI_DEADLINE" in message
    assert _workers_end()


def test_one_deadline_covers_all_calls_of_an_analysis(fake):
    # Each answer takes 2 s, well within a 10 s per-call timeout; together they overrun the 3 s deadline.
    fake.push(Reply(hang=2), Reply(hang=2), Reply(hang=2))
    settings = settings_for(fake, fake.provider, timeout_s=10.0, deadline_s=3.0)
    started = time.monotonic()
    with pytest.raises(GenAIError, match=r"the second opinion call .* timed out") as info:
        _run_all(make_provider(settings), _request(settings), Deadline.start(settings.deadline_s))
    assert info.value.kind == "timeout" and time.monotonic() - started < BOUND_S
    assert len(fake.requests) == 2  # the description was answered; the insights were never asked
    assert _workers_end()


def test_retries_stop_at_the_deadline(fake):
    fake.push(*[Reply(status=500)] * 50)
    settings = settings_for(fake, fake.provider, deadline_s=3.0, max_retries=40, backoff_s=0.5)
    started = time.monotonic()
    with pytest.raises(GenAIError, match=r"the image description call .* timed out") as info:
        "".join(stream_description(make_provider(settings), _request(settings)))
    assert info.value.kind == "timeout" and time.monotonic() - started < BOUND_S
    assert 1 < len(fake.requests) < 41  # it retried, but not all 40 times
    assert _workers_end()


def test_a_fast_analysis_is_not_affected_by_the_deadline(fake):
    settings = settings_for(fake, fake.provider, deadline_s=30.0)
    assert _run_all(make_provider(settings), _request(settings), Deadline.start(30.0)) == 2 * DEFAULT_TEXT
    assert len(fake.requests) == 3


@pytest.mark.parametrize("part", CALLS)
def test_html_page_with_status_200_says_the_base_url_is_wrong(fake, part):
    fake.push(Reply(html=True))
    settings = settings_for(fake, fake.provider)
    with pytest.raises(GenAIError) as info:
        CALLS[part](make_provider(settings), _request(settings))
    message = str(info.value)
    assert info.value.kind == "response" and len(fake.requests) == 1
    assert f"The server at {settings.endpoint} answered the {part} call with an HTML page, not a JSON reply" in message
    assert "is the base URL right (IMGCLF_GENAI_BASE_URL" in message
    assert ("/v1" in message) == (fake.provider == "openai")


def test_deadline_setting_is_read_and_checked():
    assert resolve_settings([("environment", {})]).deadline_s == 45.0
    assert resolve_settings([("environment", {"IMGCLF_GENAI_DEADLINE": "12.5"})]).deadline_s == 12.5
    for bad in ("soon", "0", "inf", "nan"):
        with pytest.raises(GenAIError, match=f"IMGCLF_GENAI_DEADLINE='{bad}' from environment .* finite number"):
            resolve_settings([("environment", {"IMGCLF_GENAI_DEADLINE": bad})])


class _Client:
    """A stand-in SDK client that records being closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_bounded_call_raises_worker_errors_and_closes_the_client():
    def ask(client: _Client):
        yield "one"
        raise ValueError("broken reply")

    client = _Client()
    items = []
    with pytest.raises(ValueError, match="broken reply"):
        for item in bounded(Call("test", Deadline.start(5.0)), client, ask):
            items.append(item)
    assert items == ["one"] and client.closed.wait(5)


def test_bounded_call_abandons_a_stuck_worker_and_a_spent_deadline():
    def ask(client: _Client):
        client.closed.wait(30)  # stuck until the client is closed, like a socket read
        yield "late"

    client = _Client()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        list(bounded(Call("test", Deadline.start(0.5)), client, ask))
    assert client.closed.is_set() and info.value.waited_s >= 0.4 and time.monotonic() - started < 10
    spent = _Client()
    with pytest.raises(DeadlineExceeded) as info:
        list(bounded(Call("test", Deadline(1.0, time.monotonic() - 1)), spent, ask))
    assert info.value.waited_s == 0 and spent.closed.is_set()
    message = str(deadline_error(GenAISettings(provider="openai", model="llava"), info.value))
    assert message.startswith("openai/llava: the test call to https://api.openai.com/v1 timed out")
    assert "1 s deadline (IMGCLF_GENAI_DEADLINE) before it could start" in message
    assert _workers_end()
