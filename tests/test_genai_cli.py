"""``imgclf analyze RUN IMAGE`` offline and against a fake OpenAI-compatible server."""

from __future__ import annotations

import json
import time

import pytest

from fakes import DEFAULT_TEXT, Reply
from genai_helpers import SECRET, png_bytes, start_fake
from imgclf.cli.main import main

KEY_VARS = ("IMGCLF_GENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
TUNING_VARS = ("IMGCLF_GENAI_MODEL", "IMGCLF_GENAI_TIMEOUT", "IMGCLF_GENAI_DEADLINE", "IMGCLF_GENAI_RETRIES")


@pytest.fixture()
def image(tmp_path, monkeypatch):
    for name in (*KEY_VARS, *TUNING_VARS, "IMGCLF_GENAI_PROVIDER", "IMGCLF_GENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "red.png"
    path.write_bytes(png_bytes((200, 40, 40), 48))
    return path


def test_analyze_offline(tiny_run, image, capsys):
    assert main(["analyze", str(tiny_run), str(image), "--provider", "none"]) == 0
    out = capsys.readouterr().out
    assert "## Offline analysis" in out and "confidence" in out and "Grad-CAM heat map peaks" in out


def test_analyze_with_a_fake_openai_server(tiny_run, image, capsys, monkeypatch):
    with start_fake("openai") as server:
        monkeypatch.setenv("IMGCLF_GENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        opinion = {"verdict": "agree", "label": "red", "reason": "It is red."}
        server.push(Reply(), Reply(text=json.dumps(opinion)), Reply(text="Red things are red."))
        code = main(["analyze", str(tiny_run), str(image), "--provider", "openai", "--model", "llava"])
        captured = capsys.readouterr()
    assert code == 0
    assert DEFAULT_TEXT in captured.out and "agree (red): It is red." in captured.out
    assert "Red things are red." in captured.out and "Sending" in captured.err
    assert [r.body["model"] for r in server.requests] == ["llava"] * 3
    assert SECRET not in captured.out + captured.err


def test_analyze_with_a_provider_that_fails(tiny_run, image, capsys, monkeypatch):
    with start_fake("openai") as server:
        monkeypatch.setenv("IMGCLF_GENAI_BASE_URL", server.url + "/v1")
        server.push(Reply(status=404))
        code = main(["analyze", str(tiny_run), str(image), "--provider", "openai", "--model", "nope"])
    captured = capsys.readouterr()
    assert code == 2 and "## Offline analysis" in captured.out
    assert "model 'nope' was not found" in captured.err and "ollama pull nope" in captured.err


def _point_at(server, provider: str, monkeypatch) -> None:
    """Environment for ``imgclf analyze`` against ``server``, with a 3 s deadline."""
    monkeypatch.setenv("IMGCLF_GENAI_BASE_URL", server.url + ("/v1" if provider == "openai" else ""))
    monkeypatch.setenv("IMGCLF_GENAI_API_KEY", SECRET)
    monkeypatch.setenv("IMGCLF_GENAI_TIMEOUT", "5")  # per read: a server trickling a byte a second never trips it
    monkeypatch.setenv("IMGCLF_GENAI_DEADLINE", "3")
    monkeypatch.setenv("IMGCLF_GENAI_RETRIES", "1")


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_analyze_against_a_trickling_server_stops_at_the_deadline(tiny_run, image, capsys, monkeypatch, provider):
    with start_fake(provider) as server:
        _point_at(server, provider, monkeypatch)
        server.push(*[Reply(trickle=120)] * 4)
        started = time.monotonic()
        code = main(["analyze", str(tiny_run), str(image), "--provider", provider, "--model", "test-model"])
        elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2 and elapsed < 60  # model loading included; without the deadline it waits 120 s or more
    assert "## Offline analysis" in captured.out and "Traceback" not in captured.err
    assert "imgclf analyze: error: " in captured.err
    assert "the image description call to http://127.0.0.1:" in captured.err and "timed out" in captured.err
    assert "3 s deadline (IMGCLF_GENAI_DEADLINE)" in captured.err and "up to 3 s" in captured.err


def test_analyze_shares_one_deadline_between_its_calls(tiny_run, image, capsys, monkeypatch):
    with start_fake("openai") as server:
        _point_at(server, "openai", monkeypatch)
        server.push(Reply(hang=2), Reply(hang=2), Reply(hang=2))  # each in time, all three not
        code = main(["analyze", str(tiny_run), str(image), "--provider", "openai"])
    captured = capsys.readouterr()
    assert code == 2 and DEFAULT_TEXT in captured.out and "## Second opinion" not in captured.out
    assert "the second opinion call to" in captured.err and "timed out" in captured.err
    assert len(server.requests) == 2 and "Traceback" not in captured.err


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_analyze_against_a_web_page_says_the_base_url_is_wrong(tiny_run, image, capsys, monkeypatch, provider):
    with start_fake(provider) as server:
        _point_at(server, provider, monkeypatch)
        server.push(Reply(html=True))
        code = main(["analyze", str(tiny_run), str(image), "--provider", provider])
    captured = capsys.readouterr()
    assert code == 2 and "## Offline analysis" in captured.out and "Traceback" not in captured.err
    assert "answered the image description call with an HTML page, not a JSON reply" in captured.err
    assert "is the base URL right (IMGCLF_GENAI_BASE_URL" in captured.err
