"""Optional generative-AI analysis of a prediction: Gemini, any OpenAI-compatible server, or offline.

Nothing here sends data unless a provider is configured and the caller asks for it; provider ``none``
gives a deterministic offline analysis built from the classifier alone. See ``docs/GENAI.md``.
"""

from imgclf.genai.analysis import (
    AnalysisRequest,
    SecondOpinion,
    parse_second_opinion,
    second_opinion,
    stream_chat,
    stream_description,
    stream_insights,
)
from imgclf.genai.config import DEFAULT_MODELS, PROVIDERS, GenAISettings, resolve_settings
from imgclf.genai.context import RunContext, load_run_context
from imgclf.genai.deadline import Deadline
from imgclf.genai.errors import GenAIError
from imgclf.genai.messages import ImagePart, Message, Provider, prepare_image
from imgclf.genai.offline import offline_analysis
from imgclf.genai.providers import make_provider

__all__ = [
    "DEFAULT_MODELS",
    "PROVIDERS",
    "AnalysisRequest",
    "Deadline",
    "GenAIError",
    "GenAISettings",
    "ImagePart",
    "Message",
    "Provider",
    "RunContext",
    "SecondOpinion",
    "load_run_context",
    "make_provider",
    "offline_analysis",
    "parse_second_opinion",
    "prepare_image",
    "resolve_settings",
    "second_opinion",
    "stream_chat",
    "stream_description",
    "stream_insights",
]
