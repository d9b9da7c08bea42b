"""``imgclf explain RUN IMAGE --out overlay.png``: a Grad-CAM heat map of what drove the prediction."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="draw a Grad-CAM heat map of the image regions behind a prediction",
        description="Classify IMAGE with RUN and save the image with its Grad-CAM heat map drawn over it.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a finished run folder")
    parser.add_argument("image", metavar="IMAGE", type=Path, help="the image to explain")
    parser.add_argument("--out", type=Path, default=Path("overlay.png"), help="overlay file (default: overlay.png)")
    parser.add_argument("--class", dest="label", help="class name or index to explain (default: the predicted one)")
    parser.add_argument("--opacity", type=float, default=0.45, help="heat map opacity, 0..1 (default: 0.45)")
    parser.set_defaults(handler=run)


def _class_index(label: str | None, classes: tuple[str, ...]) -> int | None:
    from imgclf.errors import ImgclfError

    if label is None:
        return None
    if label in classes:
        return classes.index(label)
    if label.isdigit() and int(label) < len(classes):
        return int(label)
    shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
    raise ImgclfError(f"--class '{label}' is not a class of this run; use one of: {shown} (or an index).")


def run(args: argparse.Namespace) -> int:
    """Write the overlay and print the prediction with where the heat map peaks."""
    from imgclf.data.decode import open_image
    from imgclf.engine.explainer import GradCam, heatmap_peak, overlay
    from imgclf.engine.predictor import load, to_pixels

    clf = load(args.run_dir)
    index = _class_index(args.label, clf.classes)
    original = open_image(args.image)
    cam = GradCam(clf.model, clf.spec)
    result = cam(to_pixels(original, clf.input_size), index)
    pred = clf.describe(str(args.image), result.features, result.probabilities)
    overlay(original, result.heatmap, args.opacity).save(args.out)
    x, y = heatmap_peak(result.heatmap)
    print(f"{args.image}: {pred.label} ({pred.confidence:.1%}, {pred.status})")
    print(f"Explained class '{clf.classes[result.class_index]}'; heat peaks at x={x:.0%}, y={y:.0%} of the image.")
    print(f"Overlay written to {args.out}")
    return 0
