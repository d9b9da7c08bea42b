"""Pick the provider named by the settings: ``gemini``, ``openai`` (any compatible server) or ``none``."""

from __future__ import annotations

from imgclf.genai.config import GenAISettings
from imgclf.genai.errors import GenAIError
from imgclf.genai.messages import Provider

__all__ = ["make_provider"]


def make_provider(settings: GenAISettings) -> Provider | None:
    """A ready provider, or ``None`` for ``none`` (offline). A missing key raises ``GenAIError`` (``config``)."""
    if settings.provider == "none":
        return None
    needs_key = settings.provider == "gemini" or settings.base_url is None
    if needs_key and not settings.api_key:
        names = " or ".join(settings.key_names[1:])
        local = " (a local server such as Ollama needs a base URL instead)" if settings.provider == "openai" else ""
        raise GenAIError(
            "config",
            f"No API key for {settings.label}: set {names} in the environment, Streamlit secrets or the "
            f"Settings page{local}, or choose provider 'none'.",
        )
    if settings.provider == "gemini":
        from imgclf.genai.gemini import GeminiProvider

        return GeminiProvider(settings)
    from imgclf.genai.openai_compat import OpenAIProvider

    return OpenAIProvider(settings)
