"""Dataset page: the health report of a dataset folder (imgclf check), with thumbnails of the problem files."""

from __future__ import annotations

import streamlit as st

from imgclf.app.components.datasets import choose_dataset, render_dataset_report
from imgclf.app.components.text import md_escape
from imgclf.data.check import check_dataset
from imgclf.errors import ImgclfError

st.title("Dataset health")
st.caption("Decodes every image once and reports what would make training unsafe or misleading.")
data = choose_dataset("dataset")
if st.button("Check dataset", type="primary", disabled=data is None, key="check"):
    with st.spinner("Checking every image..."):
        try:
            st.session_state["dataset_report"] = check_dataset(data)
        except ImgclfError as exc:
            st.session_state.pop("dataset_report", None)
            st.error(md_escape(exc))
report = st.session_state.get("dataset_report")
if report is not None:
    st.subheader(f"Report for {md_escape(report.root.name)}")
    render_dataset_report(report)
