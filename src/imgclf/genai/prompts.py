"""Prompt templates: editable Markdown files filled with the prediction and the run's metrics.

The built-in templates live in ``imgclf/genai/prompts/``. A folder named by ``IMGCLF_GENAI_PROMPTS``
(or the Settings page) may hold edited copies with the same file names; missing ones fall back to the
built-in. Placeholders use ``$name`` (write ``$$`` for a dollar sign); see :data:`PLACEHOLDERS`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from imgclf.genai.errors import GenAIError

__all__ = ["PLACEHOLDERS", "PROMPT_NAMES", "load_template", "render_prompt"]

PROMPT_NAMES = ("system", "describe", "second_opinion", "insights", "chat")
PLACEHOLDERS = (
    "label",
    "confidence",
    "status",
    "top_classes",
    "classes",
    "uncertainty",
    "heatmap",
    "confusions",
    "accuracy",
    "domain",
)


def load_template(name: str, prompts_dir: str | Path | None = None) -> str:
    """The text of template ``name``: the edited copy in ``prompts_dir`` if there is one, else the built-in."""
    if name not in PROMPT_NAMES:
        raise GenAIError("config", f"Unknown prompt '{name}'; the templates are {', '.join(PROMPT_NAMES)}.")
    if prompts_dir is not None:
        folder = Path(prompts_dir).expanduser()
        if not folder.is_dir():
            raise GenAIError("config", f"Prompt folder '{folder}' does not exist; fix IMGCLF_GENAI_PROMPTS.")
        custom = folder / f"{name}.md"
        if custom.is_file():
            return custom.read_text(encoding="utf-8")
    return resources.files("imgclf.genai").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


def render_prompt(name: str, values: Mapping[str, str], prompts_dir: str | Path | None = None) -> str:
    """Template ``name`` with its ``$placeholders`` filled; an unknown placeholder is reported clearly."""
    text = load_template(name, prompts_dir)
    try:
        return string.Template(text).substitute(values).strip()
    except KeyError as exc:
        raise GenAIError(
            "config",
            f"Prompt '{name}.md' uses unknown placeholder ${exc.args[0]}; use one of "
            f"{', '.join('$' + p for p in PLACEHOLDERS)}.",
        ) from exc
    except ValueError as exc:
        raise GenAIError(
            "config", f"Prompt '{name}.md' has a stray '$' ({exc}); write '$$' for a dollar sign."
        ) from exc
