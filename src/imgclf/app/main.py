"""The imgclf app: ``streamlit run main.py -- --runs DIR --data DIR... [--verbose]`` (``imgclf app`` does this).

Without ``--verbose``, TensorFlow is imported here, quietly, before any page needs it (see :mod:`imgclf.quiet`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from imgclf.quiet import import_tensorflow_quietly, quiet_environment

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"


def _app_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--data", nargs="*", default=[])
    parser.add_argument("--verbose", action="store_true")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known


args = _app_args()
if not args.verbose:
    quiet_environment(os.environ)
    import_tensorflow_quietly()
st.set_page_config(page_title="imgclf", page_icon=HERE / "static" / "icon.png", layout="wide")
st.session_state.setdefault("runs_dir", args.runs)
st.session_state.setdefault("data_roots", args.data or [os.getcwd()])
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
