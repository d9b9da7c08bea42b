"""The imgclf app: ``streamlit run main.py -- --runs DIR`` (``imgclf app`` does this for you)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"


def _runs_from_argv() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default="runs")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.runs


st.set_page_config(page_title="imgclf", page_icon=":material/image_search:", layout="wide")
st.session_state.setdefault("runs_dir", _runs_from_argv())
navigation = st.navigation(
    [
        st.Page(PAGES / "classify.py", title="Classify", icon=":material/image_search:", default=True),
        st.Page(PAGES / "model.py", title="Model", icon=":material/analytics:"),
        st.Page(PAGES / "dataset.py", title="Dataset", icon=":material/folder_open:"),
        st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
        st.Page(PAGES / "review.py", title="Review", icon=":material/rule:"),
        st.Page(PAGES / "settings.py", title="Settings", icon=":material/settings:"),
    ]
)
navigation.run()
