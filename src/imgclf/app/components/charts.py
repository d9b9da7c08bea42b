"""One colour per split and per curve, shared by every chart of the app (Dataset, Model and Train pages)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

__all__ = ["SERIES_COLOURS", "bar_chart", "line_chart"]

TRAIN, VALIDATION, TEST = "#1f77b4", "#ff7f0e", "#2ca02c"
SERIES_COLOURS = {
    "train": TRAIN, "val": VALIDATION, "test": TEST, "evaluated": TEST,
    "loss": TRAIN, "accuracy": TRAIN, "val_loss": VALIDATION, "val_accuracy": VALIDATION,
}  # fmt: skip
_OTHER = "#7f7f7f"
_PLAIN_NAMES = {
    "train": "train", "val": "validation", "test": "test", "evaluated": "evaluated",
    "loss": "train loss", "val_loss": "validation loss", "accuracy": "train accuracy",
    "val_accuracy": "validation accuracy",
}  # fmt: skip


def _named(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    colours = [SERIES_COLOURS.get(str(c), _OTHER) for c in frame.columns]
    return frame.rename(columns=lambda c: _PLAIN_NAMES.get(str(c), str(c))), colours


def line_chart(frame: pd.DataFrame, columns: tuple[str, ...], *, y_label: str) -> None:
    """The ``columns`` of ``frame`` that exist, as lines in the shared colours (train blue, validation orange)."""
    present = [c for c in columns if c in frame]
    if present:
        named, colours = _named(frame[present])
        st.line_chart(named, color=colours, y_label=y_label)


def bar_chart(counts: pd.DataFrame) -> None:
    """Images per class (rows) and split (columns), side by side, in the shared split colours."""
    named, colours = _named(counts)
    st.bar_chart(named, horizontal=True, stack=False, color=colours)
