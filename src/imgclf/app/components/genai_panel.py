"""The generative-AI panel of the Classify page: analysis, second opinion, class insights and chat.

Nothing is sent until the user ticks the consent box for the image. Results are kept in
``st.session_state`` under keys derived from ``key`` (and the image's digest), so reruns do not call the
model again. Any provider failure shows one clear message, a retry button and the offline analysis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import streamlit as st

from imgclf.app.pages.settings import current_settings
from imgclf.engine.predictor import Prediction
from imgclf.genai.analysis import (
    AnalysisRequest,
    SecondOpinion,
    second_opinion,
    stream_chat,
    stream_description,
    stream_insights,
)
from imgclf.genai.config import GenAISettings
from imgclf.genai.context import load_run_context
from imgclf.genai.deadline import Deadline
from imgclf.genai.errors import GenAIError
from imgclf.genai.messages import Message, Provider, prepare_image
from imgclf.genai.offline import offline_analysis
from imgclf.genai.providers import make_provider

__all__ = ["render_genai_panel"]

_VERDICT_BOX = {"agree": st.success, "disagree": st.warning, "cannot tell": st.info}


def _failed(slot: str) -> bool:
    """Show a stored failure of ``slot`` with a retry button; True when there is one."""
    error = st.session_state.get(f"{slot}:error")
    if error is None:
        return False
    st.error(error)
    if st.button("Try again", key=f"{slot}:retry"):
        del st.session_state[f"{slot}:error"]
        st.rerun()
    return True


def _once(slot: str, produce: Callable[[], object], show: Callable[[object], None]) -> object | None:
    """The result of ``produce`` computed once per slot (``show`` displays a stored one); None on failure."""
    state = st.session_state
    if _failed(slot):
        return None
    if slot in state:
        show(state[slot])
        return state[slot]
    try:
        state[slot] = produce()
    except GenAIError as exc:
        state[f"{slot}:error"] = str(exc)
        _failed(slot)
        return None
    return state[slot]


def _stream(make: Callable[[], Iterator[str]]) -> Callable[[], str]:
    def produce() -> str:
        written = st.write_stream(make())
        return written if isinstance(written, str) else "".join(map(str, written))

    return produce


def _show_opinion(prediction: Prediction, opinion: SecondOpinion, label: str) -> None:
    left, right = st.columns(2)
    left.markdown(f"**Classifier**  \n{prediction.label}, {prediction.confidence:.0%} confidence ({prediction.status})")
    seen = f": {opinion.label}" if opinion.label else ""
    right.markdown(f"**Second opinion** ({label})  \n{opinion.verdict}{seen}")
    _VERDICT_BOX[opinion.verdict](opinion.reason)


def _chat(provider: Provider, request: AnalysisRequest, slot: str) -> None:
    history: list[tuple[str, str]] = st.session_state.setdefault(slot, [])
    for role, text in history:
        with st.chat_message(role):
            st.markdown(text)
    question = st.chat_input("Ask a follow-up question about this image", key=f"{slot}:input")
    if not question:
        return
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        turns = [Message(role, text) for role, text in history]
        try:
            deadline = Deadline.start(request.settings.deadline_s)  # each answer has its own
            answer = _stream(lambda: stream_chat(provider, request, turns, question, deadline))()
        except GenAIError as exc:
            st.error(str(exc))
            return
    history += [("user", question), ("assistant", answer)]


def _model_sections(provider: Provider, request: AnalysisRequest, base: str) -> bool:
    """Analysis, second opinion, insights and chat; False as soon as one fails.

    The calls made in one run share a deadline (those already answered are shown from the session).
    """
    deadline = Deadline.start(request.settings.deadline_s)
    st.markdown("**What the model sees**")
    describe = _stream(lambda: stream_description(provider, request, deadline))
    if _once(f"{base}:describe", describe, st.markdown) is None:
        return False
    st.markdown("**Second opinion**")
    opinion = _once(f"{base}:opinion", lambda: second_opinion(provider, request, deadline), lambda _: None)
    if opinion is None:
        return False
    _show_opinion(request.prediction, opinion, provider.label)
    st.markdown(f"**About '{request.prediction.label}'**")
    insights_slot = f"{base}:insights:{request.prediction.label}"
    if _once(insights_slot, _stream(lambda: stream_insights(provider, request, deadline)), st.markdown) is None:
        return False
    st.markdown("**Ask a question**")
    _chat(provider, request, f"{base}:chat")
    return True


def _settings() -> GenAISettings | None:
    try:
        return current_settings()
    except GenAIError as exc:
        st.error(str(exc))
        return None


def render_genai_panel(
    *,
    prediction: Prediction,
    image_bytes: bytes,
    run_dir: Path | None,
    heatmap_peak: tuple[float, float] | None,
    key: str,
) -> None:
    """The AI analysis panel for one classified image (offline analysis when no provider is set)."""
    st.subheader("AI analysis")
    context = load_run_context(run_dir, prediction)
    offline = offline_analysis(prediction, context, heatmap_peak)
    settings = _settings()
    if settings is None or settings.provider == "none" or prediction.status == "error":
        if settings is not None and settings.provider == "none":
            st.caption("Offline analysis from the classifier alone. Choose a model provider on the Settings page.")
        st.markdown(offline)
        return
    digest = hashlib.sha256(image_bytes).hexdigest()[:16]
    st.caption(
        f"Ticking the box sends this image, the predicted label, the class names and the run's metrics to "
        f"{settings.label} at {settings.endpoint}. Camera metadata (EXIF, GPS) is removed first. "
        "Nothing is sent otherwise."
    )
    if not st.checkbox(f"Send this image to {settings.label}?", value=False, key=f"{key}:consent:{digest}"):
        st.markdown(offline)
        return
    try:
        provider = make_provider(settings)
    except GenAIError as exc:
        st.error(str(exc))
        st.markdown(offline)
        return
    request = AnalysisRequest(prediction, prepare_image(image_bytes), context, settings, heatmap_peak)
    if not _model_sections(provider, request, f"{key}:{digest}:{settings.label}"):
        st.markdown("**Offline analysis**")
        st.markdown(offline)
        return
    with st.expander("Offline analysis (classifier only)"):
        st.markdown(offline)
