"""Offline analysis, settings precedence, prompt templates, second-opinion parsing and image preparation."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from genai_helpers import SECRET, png_bytes, sample_prediction
from imgclf.genai.analysis import AnalysisRequest, parse_second_opinion, prompt_values
from imgclf.genai.config import GenAISettings, resolve_settings
from imgclf.genai.context import RunContext, load_run_context
from imgclf.genai.errors import GenAIError
from imgclf.genai.messages import prepare_image
from imgclf.genai.offline import describe_region, offline_analysis
from imgclf.genai.prompts import render_prompt


def _run(tmp_path, metrics: object | None = None, calibrated: bool = False):
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["ants", "bees", "wasps"]}))
    if metrics is not None:
        (tmp_path / "eval").mkdir()
        (tmp_path / "eval" / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    if calibrated:
        (tmp_path / "calibration.json").write_text(json.dumps({"temperature": 1.5}))
    return tmp_path


# The shape `imgclf evaluate` writes (tests/test_run.py checks the real output against every reader).
MATRIX = {"classes": ["ants", "bees", "wasps"], "test": {"confusion_matrix": [[9, 1, 0], [0, 8, 2], [0, 3, 7]]}}


def test_offline_analysis_summarises_the_classifier(tmp_path):
    ctx = load_run_context(_run(tmp_path, MATRIX, calibrated=True), sample_prediction())
    text = offline_analysis(sample_prediction(), ctx, (0.1, 0.9))
    assert "**bees**, 87% confidence (calibrated)" in text
    assert "bees 87%, wasps 10%, ants 3%" in text
    assert "runner-up 'wasps': 77% points (clear)" in text
    assert "lower left" in text
    assert "2 of 10 'bees' images were predicted as 'wasps', and 3 'wasps' images as 'bees'" in text
    assert offline_analysis(sample_prediction(), ctx, None) == offline_analysis(sample_prediction(), ctx, None)


@pytest.mark.parametrize(
    ("metrics", "note"),
    [
        (None, "not been evaluated yet"),
        ("{broken", "evaluation results are damaged"),
        ({"accuracy": 1}, "evaluation results are damaged"),
        ({"classes": ["ants", "bees", "wasps"], "test": {"confusion_matrix": [[1, 2]]}}, "results are damaged"),
    ],
)
def test_missing_or_damaged_metrics_are_reported_not_fatal(tmp_path, metrics, note):
    ctx = load_run_context(_run(tmp_path, metrics), sample_prediction())
    assert ctx.classes == ("ants", "bees", "wasps") and ctx.accuracy is None
    text = offline_analysis(sample_prediction(), ctx, None)
    assert note in text and "not calibrated yet" in text
    assert str(tmp_path) not in text and "Error" not in text, "no server paths or exception names for users"


def test_offline_analysis_of_a_failed_image():
    from imgclf.engine.predictor import Prediction

    failed = Prediction("x.png", None, 0.0, "error", error="'x.png' is empty (0 bytes)")
    ctx = load_run_context(None, failed)
    assert "could not be classified: 'x.png' is empty" in offline_analysis(failed, ctx, None)


@pytest.mark.parametrize(
    ("peak", "region"), [((0.5, 0.5), "centre"), ((0.9, 0.1), "upper right"), ((0.0, 1.0), "lower left")]
)
def test_heatmap_regions(peak, region):
    assert describe_region(peak) == region


def test_environment_beats_secrets_beats_settings_page():
    env = {"IMGCLF_GENAI_PROVIDER": "openai", "OPENAI_API_KEY": SECRET}
    secrets = {"IMGCLF_GENAI_MODEL": "llava", "IMGCLF_GENAI_PROVIDER": "gemini"}
    page = {"IMGCLF_GENAI_MODEL": "ignored", "IMGCLF_GENAI_TIMEOUT": "5", "IMGCLF_GENAI_DOMAIN": "bees"}
    settings = resolve_settings([("environment", env), ("Streamlit secrets", secrets), ("Settings page", page)])
    assert (settings.provider, settings.model, settings.timeout_s, settings.domain) == ("openai", "llava", 5.0, "bees")
    assert settings.api_key == SECRET and settings.sources["model"] == "Streamlit secrets (IMGCLF_GENAI_MODEL)"
    assert SECRET not in repr(settings)


def test_provider_follows_the_keys_and_defaults_to_none():
    assert resolve_settings([("environment", {})]).provider == "none"
    gemini = resolve_settings([("environment", {"GEMINI_API_KEY": "k"})])
    assert (gemini.provider, gemini.model) == ("gemini", "gemini-3.8-flash")
    ollama = resolve_settings([("environment", {"IMGCLF_GENAI_BASE_URL": "http://localhost:11434/v1/"})])
    assert (ollama.provider, ollama.base_url, ollama.api_key) == ("openai", "http://localhost:11434/v1", None)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"IMGCLF_GENAI_PROVIDER": "claude"}, "'claude' from environment (IMGCLF_GENAI_PROVIDER) is not a provider"),
        ({"IMGCLF_GENAI_TIMEOUT": "soon"}, "IMGCLF_GENAI_TIMEOUT='soon' from environment"),
        ({"IMGCLF_GENAI_RETRIES": "-1"}, "must be a finite number of at least 0"),
    ],
)
def test_bad_settings_name_value_and_source(values, words):
    with pytest.raises(GenAIError) as info:
        resolve_settings([("environment", values)])
    assert info.value.kind == "config" and words in str(info.value)


@pytest.mark.parametrize(
    ("text", "verdict", "label", "parsed"),
    [
        ('{"verdict": "agree", "label": "bees", "reason": "Fuzzy body."}', "agree", "bees", True),
        (
            'Here you go:\n```json\n{"verdict": "Disagree", "label": "wasps", "reason": "Bands."}\n```',
            "disagree",
            "wasps",
            True,
        ),
        ('{"verdict": "can\'t tell", "reason": "Too blurry."}', "cannot tell", "", True),
        ('{"verdict": "yes", "reason": "Looks right."}', "agree", "bees", True),
        ('{"verdict": "maybe", "label": "x", "reason": "r"}', "cannot tell", "x", False),
        ("I think it is a bee.", "cannot tell", "", False),
        ("", "cannot tell", "", False),
    ],
)
def test_second_opinion_is_parsed_defensively(text, verdict, label, parsed):
    opinion = parse_second_opinion(text, "bees")
    assert (opinion.verdict, opinion.label, opinion.parsed) == (verdict, label, parsed)
    assert opinion.reason


def _request(ctx: RunContext, settings: GenAISettings) -> AnalysisRequest:
    return AnalysisRequest(sample_prediction(), prepare_image(png_bytes()), ctx, settings, None)


def test_prompts_fill_from_editable_templates(tmp_path):
    ctx = RunContext(classes=("ants", "bees", "wasps"))
    values = prompt_values(_request(ctx, GenAISettings(domain="beekeeping")))
    text = render_prompt("insights", values)
    assert "**bees** (87% (uncalibrated) confidence)" in text and "beekeeping" in text and "$" not in text
    (tmp_path / "insights.md").write_text("Tell me about $label in $domain; costs $$5.")
    assert render_prompt("insights", values, tmp_path) == "Tell me about bees in beekeeping; costs $5."
    assert render_prompt("describe", values, tmp_path).startswith("Describe this image")  # built-in fallback
    (tmp_path / "chat.md").write_text("Hello $labl")
    with pytest.raises(GenAIError, match=r"unknown placeholder \$labl; use one of \$label"):
        render_prompt("chat", values, tmp_path)


def test_clean_png_is_sent_unchanged():
    part = prepare_image(png_bytes())
    assert (part.data, part.mime_type) == (png_bytes(), "image/png")


def test_exif_and_unusual_formats_are_reencoded_without_metadata():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0)}  # GPS
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 200, 10)).save(buffer, format="JPEG", exif=exif)
    part = prepare_image(buffer.getvalue())
    sent = Image.open(io.BytesIO(part.data))
    assert part.mime_type == "image/jpeg" and sent.size == (20, 40)  # upright
    assert not sent.getexif() and "exif" not in sent.info
    bmp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(bmp, format="BMP")
    assert prepare_image(bmp.getvalue()).mime_type == "image/jpeg"
