"""Per-user widget state that outlives a page: the user's choices survive visits to other pages.

Widgets that keep their value for the whole session pass ``persist_state=SESSION`` (Streamlit otherwise
forgets a widget's value after any run that does not draw it: another page, or a form hidden while
training runs). Such widgets take their first value from :func:`initial`, never from a ``value=`` argument,
so callbacks and other pages may also set them (e.g. "Train on this dataset").
"""

from __future__ import annotations

import streamlit as st

__all__ = ["SESSION", "initial"]

SESSION = "session"


def initial(key: str, value: object) -> str:
    """Give widget ``key`` its first value (kept afterwards); returns ``key`` for the widget call."""
    st.session_state.setdefault(key, value)
    return key
