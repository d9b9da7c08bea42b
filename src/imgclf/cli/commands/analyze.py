"""``imgclf analyze RUN IMAGE``: the classifier's result, then a vision model's analysis (or the offline one).

Running the command with a provider is the consent to send IMAGE (without its camera metadata), the
prediction, the class names and the run's metrics to that provider; ``--provider none`` sends nothing.
The three model calls share one deadline (``IMGCLF_GENAI_DEADLINE``); a failure prints the offline
analysis, then one error line naming the call that failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from imgclf.genai.config import ENV_NAMES, PROVIDERS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="classify an image, then ask a vision model to describe it and give a second opinion",
        description="Classify IMAGE with RUN, then stream a model's description, second opinion and class "
        "insights. Provider, model, key and server come from the environment (see docs/GENAI.md); the "
        "flags override them. Without a provider, prints the offline analysis.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a finished run folder")
    parser.add_argument("image", metavar="IMAGE", type=Path, help="the image to analyse")
    parser.add_argument("--provider", choices=PROVIDERS, help="gemini, openai (any compatible server) or none")
    parser.add_argument("--model", help="model name (default: the provider's; for Ollama e.g. llava)")
    parser.add_argument("--domain", help="what the photos are about, e.g. 'beekeeping' (tunes the insights)")
    parser.set_defaults(handler=run)


def _print_stream(title: str, chunks: Iterator[str]) -> None:
    print(f"\n## {title}")
    for chunk in chunks:
        print(chunk, end="", flush=True)
    print()


def run(args: argparse.Namespace) -> int:
    """Print the prediction and the analysis; a provider failure prints the offline analysis, then the error."""
    from imgclf.data.decode import open_image
    from imgclf.engine.explainer import GradCam, heatmap_peak
    from imgclf.engine.predictor import load, to_pixels
    from imgclf.genai import analysis
    from imgclf.genai.config import resolve_settings
    from imgclf.genai.context import load_run_context
    from imgclf.genai.deadline import Deadline
    from imgclf.genai.errors import GenAIError
    from imgclf.genai.messages import prepare_image
    from imgclf.genai.offline import offline_analysis
    from imgclf.genai.providers import make_provider

    flags = {ENV_NAMES["provider"]: args.provider, ENV_NAMES["model"]: args.model, ENV_NAMES["domain"]: args.domain}
    settings = resolve_settings([("command line", flags), ("environment", os.environ)])
    provider = make_provider(settings)
    clf = load(args.run_dir)
    original = open_image(args.image)
    result = GradCam(clf.model, clf.spec)(to_pixels(original, clf.input_size), None)
    pred = clf.describe(str(args.image), result.features, result.probabilities)
    peak = heatmap_peak(result.heatmap)
    context = load_run_context(clf.run_dir, pred)
    offline = offline_analysis(pred, context, peak)
    print(f"{args.image}: {pred.label} ({pred.confidence:.1%}, {pred.status})")
    if provider is None:
        print("\n## Offline analysis\n" + offline)
        return 0
    print(
        f"Sending {args.image} to {settings.label} at {settings.endpoint} "
        f"(the analysis may take up to {settings.deadline_s:g} s, {ENV_NAMES['deadline_s']}).",
        file=sys.stderr,
    )
    request = analysis.AnalysisRequest(pred, prepare_image(args.image.read_bytes()), context, settings, peak)
    deadline = Deadline.start(settings.deadline_s)  # one for all three calls
    try:
        _print_stream(f"What {settings.label} sees", analysis.stream_description(provider, request, deadline))
        opinion = analysis.second_opinion(provider, request, deadline)
        seen = f" ({opinion.label})" if opinion.label else ""
        print(f"\n## Second opinion\n{opinion.verdict}{seen}: {opinion.reason}")
        _print_stream(f"About '{pred.label}'", analysis.stream_insights(provider, request, deadline))
    except GenAIError:
        print("\n## Offline analysis\n" + offline)
        raise
    return 0
