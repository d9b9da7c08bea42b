"""Helpers for the generative-AI tests: a fixed prediction, small images, settings for the fake servers."""

from __future__ import annotations

import io

from PIL import Image

from fakes import FakeGemini, FakeOpenAI, FakeServer
from imgclf.engine.predictor import Prediction
from imgclf.genai.config import GenAISettings

__all__ = ["SECRET", "png_bytes", "sample_prediction", "settings_for", "start_fake"]

SECRET = "sk-test-SECRET-key-0123456789"


def png_bytes(colour: tuple[int, int, int] = (200, 30, 30), size: int = 64) -> bytes:
    """A small PNG without metadata."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def sample_prediction() -> Prediction:
    """A confident 'bees' prediction over three classes."""
    return Prediction(
        source="photo.png",
        label="bees",
        confidence=0.87,
        status="ok",
        top_k=(("bees", 0.87), ("wasps", 0.1), ("ants", 0.03)),
        probabilities=(0.03, 0.87, 0.1),
    )


def start_fake(provider: str) -> FakeServer:
    """A fake server for ``provider`` (not started)."""
    return FakeGemini() if provider == "gemini" else FakeOpenAI()


def settings_for(server: FakeServer, provider: str, **changes: object) -> GenAISettings:
    """Settings that point ``provider``'s SDK at ``server`` with short timeouts and backoff."""
    base_url = server.url + ("/v1" if provider == "openai" else "")
    values = dict(
        provider=provider,
        model="test-model",
        api_key=SECRET,
        base_url=base_url,
        timeout_s=1.0,
        max_retries=1,
        backoff_s=0.05,
    )
    return GenAISettings(**(values | changes))
