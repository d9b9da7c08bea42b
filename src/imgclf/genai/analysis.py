"""The three model features: image analysis with a second opinion, class insights, and chat.

Each feature fills a prompt template with the prediction and the run's metrics, then calls a
:class:`~imgclf.genai.messages.Provider`. Text streams as chunks; the second opinion is parsed defensively.
Pass one :class:`~imgclf.genai.deadline.Deadline` to every call of an analysis so that together they end by
it; without one, each call gets a deadline of its own (``settings.deadline_s``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence

from imgclf.engine.predictor import Prediction
from imgclf.genai.config import GenAISettings
from imgclf.genai.context import RunContext
from imgclf.genai.deadline import Call, Deadline
from imgclf.genai.messages import ImagePart, Message, Provider
from imgclf.genai.offline import describe_confusions, describe_region, uncertainty_lines
from imgclf.genai.prompts import render_prompt

__all__ = [
    "PARTS",
    "SECOND_OPINION_SCHEMA",
    "VERDICTS",
    "AnalysisRequest",
    "SecondOpinion",
    "parse_second_opinion",
    "prompt_values",
    "second_opinion",
    "stream_chat",
    "stream_description",
    "stream_insights",
]

VERDICTS = ("agree", "disagree", "cannot tell")
# What each call is for, as error messages name it.
PARTS = {
    "describe": "image description",
    "second_opinion": "second opinion",
    "insights": "class insights",
    "chat": "chat answer",
}
SECOND_OPINION_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "label": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "label", "reason"],
    "additionalProperties": False,
}
_SYNONYMS = {
    "agree": "agree",
    "agrees": "agree",
    "yes": "agree",
    "correct": "agree",
    "disagree": "disagree",
    "disagrees": "disagree",
    "no": "disagree",
    "incorrect": "disagree",
    "wrong": "disagree",
    "cannot tell": "cannot tell",
    "can't tell": "cannot tell",
    "cannot_tell": "cannot tell",
    "unsure": "cannot tell",
    "unknown": "cannot tell",
    "uncertain": "cannot tell",
}


@dataclasses.dataclass(frozen=True)
class SecondOpinion:
    """The vision model's verdict on the classifier's label; ``parsed`` is False when its answer was unreadable."""

    verdict: str
    label: str
    reason: str
    parsed: bool = True


@dataclasses.dataclass(frozen=True)
class AnalysisRequest:
    """Everything the features need about one classified image."""

    prediction: Prediction
    image: ImagePart
    context: RunContext
    settings: GenAISettings
    heatmap_peak: tuple[float, float] | None = None


def _json_object(text: str) -> dict | None:
    cleaned = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(cleaned[start : end + 1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def parse_second_opinion(text: str, predicted: str) -> SecondOpinion:
    """Read a second opinion from JSON (fenced, wrapped in prose, or with loose verdict words)."""
    data = _json_object(text)
    if data is None:
        snippet = text.strip()[:200] or "an empty answer"
        return SecondOpinion("cannot tell", "", f"The model's answer was not the expected JSON: {snippet}", False)
    raw = str(data.get("verdict", "")).strip().lower().replace("’", "'")
    verdict = _SYNONYMS.get(raw)
    label = str(data.get("label") or "").strip()
    reason = str(data.get("reason") or "").strip() or "No reason given."
    if verdict is None:
        return SecondOpinion("cannot tell", label, f"Unreadable verdict {raw!r}. {reason}", False)
    if verdict == "agree" and not label:
        label = predicted
    return SecondOpinion(verdict, label, reason)


def prompt_values(request: AnalysisRequest) -> dict[str, str]:
    """The values of every template placeholder for ``request``."""
    pred, ctx = request.prediction, request.context
    heatmap = ""
    if request.heatmap_peak is not None:
        heatmap = f"The classifier's Grad-CAM heat map focuses on the {describe_region(request.heatmap_peak)}."
    accuracy = ctx.accuracy
    return {
        "label": pred.label or "unknown",
        "confidence": f"{pred.confidence:.0%}" + ("" if ctx.calibrated else " (uncalibrated)"),
        "status": pred.status,
        "top_classes": ", ".join(f"{name} {p:.0%}" for name, p in pred.top_k) or "unknown",
        "classes": ", ".join(ctx.classes) or "unknown",
        "uncertainty": " ".join(uncertainty_lines(pred)),
        "heatmap": heatmap,
        "confusions": "\n".join(f"- {line}" for line in describe_confusions(pred.label or "", ctx)) or "- none known",
        "accuracy": "unknown" if accuracy is None else f"{accuracy:.1%}",
        "domain": request.settings.domain or "not specified",
    }


def _render(name: str, request: AnalysisRequest, values: Mapping[str, str]) -> str:
    return render_prompt(name, values, request.settings.prompts_dir)


def _call(part: str, request: AnalysisRequest, deadline: Deadline | None) -> Call:
    """``part`` under ``deadline``, or under a deadline of its own when none is shared."""
    return Call(part, deadline or Deadline.start(request.settings.deadline_s))


def stream_description(provider: Provider, request: AnalysisRequest, deadline: Deadline | None = None) -> Iterator[str]:
    """The vision model's description of the image, streamed by ``deadline``."""
    values = prompt_values(request)
    user = Message("user", _render("describe", request, values), request.image)
    return provider.stream(_render("system", request, values), [user], _call(PARTS["describe"], request, deadline))


def second_opinion(provider: Provider, request: AnalysisRequest, deadline: Deadline | None = None) -> SecondOpinion:
    """agree / disagree / cannot tell on the classifier's label, with a reason, by ``deadline``."""
    values = prompt_values(request)
    user = Message("user", _render("second_opinion", request, values), request.image)
    call = _call(PARTS["second_opinion"], request, deadline)
    text = provider.complete_json(_render("system", request, values), [user], SECOND_OPINION_SCHEMA, call)
    return parse_second_opinion(text, request.prediction.label or "")


def stream_insights(provider: Provider, request: AnalysisRequest, deadline: Deadline | None = None) -> Iterator[str]:
    """A text model's explanation of the predicted class, its confusions and next checks (no image sent)."""
    values = prompt_values(request)
    user = Message("user", _render("insights", request, values))
    return provider.stream(_render("system", request, values), [user], _call(PARTS["insights"], request, deadline))


def stream_chat(
    provider: Provider,
    request: AnalysisRequest,
    history: Sequence[Message],
    question: str,
    deadline: Deadline | None = None,
) -> Iterator[str]:
    """The answer to ``question`` after ``history`` (text only); the image rides on the first user turn."""
    values = prompt_values(request)
    system = _render("system", request, values) + "\n\n" + _render("chat", request, values)
    turns = [*history, Message("user", question)]
    first = next(i for i, m in enumerate(turns) if m.role == "user")
    turns[first] = dataclasses.replace(turns[first], image=request.image)
    return provider.stream(system, turns, _call(PARTS["chat"], request, deadline))
