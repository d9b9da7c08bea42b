"""Showing user-provided text (file names, class names, paths) safely: never as HTML, never as markup."""

from __future__ import annotations

import re

__all__ = ["md_escape", "plural"]

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(text: object) -> str:
    """``text`` with every Markdown (and HTML-opening) character escaped, for ``st.markdown`` and friends."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 warning``, ``0 warnings``, ``1,200 images`` (``many`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
