"""Provider settings from layered sources: environment, then Streamlit secrets, then the Settings page.

Every source uses the same names (the environment variable names below). For each setting the first
source that defines it wins, so a value set in the environment cannot be overridden by the Settings page.
When no provider is named anywhere, the provider follows the keys found: a Gemini key selects ``gemini``,
an OpenAI key or base URL selects ``openai``, otherwise ``none`` (offline analysis, no network).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from imgclf.genai.errors import GenAIError

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MODELS",
    "ENV_NAMES",
    "KEY_NAMES",
    "PROVIDERS",
    "GenAISettings",
    "Layer",
    "resolve_settings",
]

PROVIDERS = ("gemini", "openai", "none")
DEFAULT_MODELS = {"gemini": "gemini-3.8-flash", "openai": "gpt-6-luna", "none": ""}
DEFAULT_ENDPOINTS = {
    "gemini": "https://generativelanguage.googleapis.com",
    "openai": "https://api.openai.com/v1",
    "none": "",
}
ENV_NAMES = {
    "provider": "IMGCLF_GENAI_PROVIDER",
    "model": "IMGCLF_GENAI_MODEL",
    "base_url": "IMGCLF_GENAI_BASE_URL",
    "timeout_s": "IMGCLF_GENAI_TIMEOUT",
    "deadline_s": "IMGCLF_GENAI_DEADLINE",
    "max_retries": "IMGCLF_GENAI_RETRIES",
    "domain": "IMGCLF_GENAI_DOMAIN",
    "prompts_dir": "IMGCLF_GENAI_PROMPTS",
}
# Searched in order; IMGCLF_GENAI_API_KEY serves whichever provider is selected.
KEY_NAMES = {
    "gemini": ("IMGCLF_GENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("IMGCLF_GENAI_API_KEY", "OPENAI_API_KEY"),
    "none": (),
}
DEFAULT_DEADLINE_S = 45.0
# A source: its name (shown on the Settings page) and its values keyed by the names above.
Layer = tuple[str, Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class GenAISettings:
    """Resolved provider settings. The API key is kept out of ``repr`` and never shown back."""

    provider: str = "none"
    model: str = ""
    api_key: str | None = dataclasses.field(default=None, repr=False)
    base_url: str | None = None
    timeout_s: float = 60.0  # for each network wait (connect, each read) of one try
    deadline_s: float = DEFAULT_DEADLINE_S  # for a whole analysis: every call, retry and streamed answer in it
    max_retries: int = 2
    backoff_s: float = 1.0  # Gemini's first retry wait; the OpenAI SDK starts at 0.5 s and honours Retry-After
    domain: str = ""
    prompts_dir: str | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """``provider/model`` for messages and the consent checkbox."""
        return "offline analysis" if self.provider == "none" else f"{self.provider}/{self.model}"

    @property
    def endpoint(self) -> str:
        """The base URL requests go to."""
        return self.base_url or DEFAULT_ENDPOINTS[self.provider]

    @property
    def key_names(self) -> tuple[str, ...]:
        """Where this provider's API key may be set."""
        return KEY_NAMES[self.provider]


def _lookup(layers: Sequence[Layer], names: Sequence[str]) -> tuple[Any, str] | None:
    for source, values in layers:
        for name in names:
            value = values.get(name)
            if value is not None and str(value).strip() != "":
                return value, f"{source} ({name})"
    return None


def _number(layers: Sequence[Layer], field: str, cast: type, low: float, default: float) -> tuple[Any, str]:
    found = _lookup(layers, [ENV_NAMES[field]])
    if found is None:
        return cast(default), "default"
    value, source = found
    try:
        number = cast(str(value).strip())
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < low:
        raise GenAIError(
            "config",
            f"{ENV_NAMES[field]}={value!r} from {source} must be a finite number of at least {low:g}; fix it there.",
        )
    return number, source


def _provider(layers: Sequence[Layer]) -> tuple[str, str]:
    found = _lookup(layers, [ENV_NAMES["provider"]])
    if found is not None:
        value, source = found
        name = str(value).strip().lower()
        if name not in PROVIDERS:
            raise GenAIError(
                "config",
                f"{ENV_NAMES['provider']}={value!r} from {source} is not a provider; use gemini, openai or none.",
            )
        return name, source
    if _lookup(layers, KEY_NAMES["gemini"][1:]) is not None:
        return "gemini", "automatic (a Gemini key is set)"
    if _lookup(layers, [*KEY_NAMES["openai"][1:], ENV_NAMES["base_url"], "OPENAI_BASE_URL"]) is not None:
        return "openai", "automatic (an OpenAI key or base URL is set)"
    return "none", "default"


def resolve_settings(layers: Sequence[Layer]) -> GenAISettings:
    """Settings from ``layers``, highest precedence first; bad values raise :class:`GenAIError` (kind ``config``)."""
    provider, provider_source = _provider(layers)
    sources = {"provider": provider_source}
    text: dict[str, str | None] = {}
    base_names = [ENV_NAMES["base_url"]] + (["OPENAI_BASE_URL"] if provider == "openai" else [])
    for field, names in (
        ("model", [ENV_NAMES["model"]]),
        ("base_url", base_names),
        ("domain", [ENV_NAMES["domain"]]),
        ("prompts_dir", [ENV_NAMES["prompts_dir"]]),
        ("api_key", list(KEY_NAMES[provider])),
    ):
        found = _lookup(layers, names)
        text[field] = None if found is None else str(found[0]).strip()
        sources[field] = "default" if found is None else found[1]
    timeout_s, sources["timeout_s"] = _number(layers, "timeout_s", float, 0.001, 60.0)
    deadline_s, sources["deadline_s"] = _number(layers, "deadline_s", float, 0.001, DEFAULT_DEADLINE_S)
    max_retries, sources["max_retries"] = _number(layers, "max_retries", int, 0, 2)
    return GenAISettings(
        provider=provider,
        model=text["model"] or DEFAULT_MODELS[provider],
        api_key=text["api_key"],
        base_url=(text["base_url"] or "").rstrip("/") or None,
        timeout_s=timeout_s,
        deadline_s=deadline_s,
        max_retries=max_retries,
        domain=text["domain"] or "",
        prompts_dir=text["prompts_dir"],
        sources=sources,
    )
