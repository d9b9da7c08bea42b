"""Showing user-provided text (file names, class names, paths) safely: never as HTML, never as markup."""

from __future__ import annotations

import re

__all__ = ["md_escape"]

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(text: object) -> str:
    """``text`` with every Markdown (and HTML-opening) character escaped, for ``st.markdown`` and friends."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")
