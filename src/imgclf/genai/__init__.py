"""Optional generative-AI analysis of a prediction: Gemini, any OpenAI-compatible server, or offline.

Nothing here sends data unless a provider is configured and the caller asks for it; provider ``none``
gives a deterministic offline analysis built from the classifier alone. See ``docs/GENAI.md``.
Names load on first use, so ``imgclf analyze --help`` does not import TensorFlow.
"""

from imgclf._lazy import lazy_attributes

_EXPORTS = {
    "DEFAULT_MODELS": "imgclf.genai.config",
    "PROVIDERS": "imgclf.genai.config",
    "AnalysisRequest": "imgclf.genai.analysis",
    "Deadline": "imgclf.genai.deadline",
    "GenAIError": "imgclf.genai.errors",
    "GenAISettings": "imgclf.genai.config",
    "ImagePart": "imgclf.genai.messages",
    "Message": "imgclf.genai.messages",
    "Provider": "imgclf.genai.messages",
    "RunContext": "imgclf.genai.context",
    "SecondOpinion": "imgclf.genai.analysis",
    "load_run_context": "imgclf.genai.context",
    "make_provider": "imgclf.genai.providers",
    "offline_analysis": "imgclf.genai.offline",
    "parse_second_opinion": "imgclf.genai.analysis",
    "prepare_image": "imgclf.genai.messages",
    "resolve_settings": "imgclf.genai.config",
    "second_opinion": "imgclf.genai.analysis",
    "stream_chat": "imgclf.genai.analysis",
    "stream_description": "imgclf.genai.analysis",
    "stream_insights": "imgclf.genai.analysis",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

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
