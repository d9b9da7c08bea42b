"""``imgclf analyze RUN IMAGE`` offline and against a fake OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from fakes import DEFAULT_TEXT, Reply
from genai_helpers import SECRET, png_bytes, start_fake
from imgclf.cli.main import main

KEY_VARS = ("IMGCLF_GENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")


@pytest.fixture()
def image(tmp_path, monkeypatch):
    for name in (*KEY_VARS, "IMGCLF_GENAI_PROVIDER", "IMGCLF_GENAI_BASE_URL"):
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
