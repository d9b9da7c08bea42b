"""Dataset page: the health report of a dataset folder (imgclf check), with thumbnails of the problem files."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.datasets import choose_dataset, render_dataset_report, without_upload_paths
from imgclf.app.components.text import md_escape
from imgclf.data.check import check_dataset
from imgclf.errors import ImgclfError

REPORT_KEY = "dataset_report"  # (the dataset folder, its report): shown only while that folder is chosen


def _train_on_it() -> None:
    """Open the Train page with the same dataset chosen."""
    st.session_state["train-mode"] = st.session_state.get("dataset-mode")
    st.session_state["train-folder"] = st.session_state.get("dataset-folder", "")


st.title("Dataset health")
st.caption("Decodes every image once and reports what would make training unsafe or misleading.")
data = choose_dataset("dataset")
if st.button("Check dataset", type="primary", disabled=data is None, key="check"):
    st.session_state.pop(REPORT_KEY, None)
    with st.spinner("Checking every image..."):
        try:
            st.session_state[REPORT_KEY] = (data, check_dataset(data))
        except ImgclfError as exc:
            st.error(md_escape(without_upload_paths(exc)))
checked = st.session_state.get(REPORT_KEY)
if checked is not None and checked[0] == data:
    report = checked[1]
    st.subheader(f"Report for {md_escape(report.root.name)}")
    render_dataset_report(report)
    if st.button("Train on this dataset", icon=":material/model_training:", key="train_on_it", on_click=_train_on_it):
        st.switch_page("pages/train.py")
