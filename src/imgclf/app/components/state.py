"""Per-user state that outlives a page: widget values survive visits to other pages and hidden forms.

Streamlit forgets a widget's value after any run in which the widget is not drawn (another page, or a form
hidden while training runs). ``main.py`` calls :func:`keep_widget_values` at the top of every run, which
re-assigns each kept value to itself: Streamlit then treats it as the user's state and keeps it.
Widgets listed here take their first value from :func:`initial`, never from a ``value=`` argument.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["KEPT_WIDGETS", "initial", "keep_widget_values"]

KEPT_WIDGETS = (
    # Train page
    "backbone", "recipe", "p1", "p2", "pretrained", "run_name", "train-mode", "train-folder",
    # Dataset page
    "dataset-mode", "dataset-folder",
    # Classify page
    "top_k", "heatmap", "opacity", "status_filter",
)  # fmt: skip


def keep_widget_values() -> None:
    """Keep the values of :data:`KEPT_WIDGETS` for the whole session, whichever page is drawn."""
    state = st.session_state
    for key in KEPT_WIDGETS:
        if key in state:
            state[key] = state[key]


def initial(key: str, value: object) -> str:
    """Give widget ``key`` its first value (kept afterwards); returns ``key`` for the widget call."""
    st.session_state.setdefault(key, value)
    return key
