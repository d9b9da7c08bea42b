"""The images worth a second look after a run's evaluation, most telling first, minus those already reviewed.

Sources, in this order: the suspect training images that evaluation ranked (the same ranking as
``imgclf suspects``) whose suspicion reaches :data:`SUSPICION_MIN`, the evaluation images the model got wrong
(most confident first), and the evaluation images it flagged ``uncertain`` or ``unfamiliar``. An image with a
pending decision in the dataset's corrections file is left out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imgclf.engine.run import Run
from imgclf.evaluation.inputs import run_corrections

__all__ = ["ReviewItem", "review_queue"]

KINDS = ("suspect", "error", "uncertain", "unfamiliar")
# A suspect is worth a look when another class is likelier than its label (label quality below 0.5) or it lies
# more than 3 robust standard deviations from the other training images (outlier score above 0.5).
SUSPICION_MIN = 0.5


@dataclasses.dataclass(frozen=True)
class ReviewItem:
    """One image to review: its current label, the model's suggestion, and why it is in the queue."""

    path: Path
    label: str
    suggested: str | None
    kind: str
    reason: str


def _suspects(run: Run) -> list[ReviewItem]:
    metrics = run.metrics or {}
    return [
        ReviewItem(Path(s["source"]), s["given"], s["suggested"], "suspect", f"suspect: {s['reason']}")
        for s in metrics.get("suspects", [])
        if float(s.get("suspicion", 1.0)) >= SUSPICION_MIN
    ]


def _from_predictions(run: Run) -> list[ReviewItem]:
    rows = run.predictions()
    errors = sorted((r for r in rows if r["correct"] == "0"), key=lambda r: -float(r["confidence"]))
    items = [
        ReviewItem(
            Path(r["path"]),
            r["true"],
            r["predicted"],
            "error",
            f"evaluation error: predicted {r['predicted']} at {float(r['confidence']):.0%}",
        )
        for r in errors
    ]
    flagged = {"uncertain": "below the confidence threshold", "unfamiliar": "unlike every training image"}
    items += [
        ReviewItem(Path(r["path"]), r["true"], r["predicted"], r["status"], f"{r['status']}: {flagged[r['status']]}")
        for r in rows
        if r["correct"] == "1" and r["status"] in flagged
    ]
    return items


def review_queue(run_dir: str | Path) -> list[ReviewItem]:
    """The images of the run's dataset to review, without duplicates, decided images or files gone since.

    Empty before ``imgclf evaluate``.
    """
    run = Run.open(run_dir)
    book = run_corrections(run)
    queue, seen = [], set()
    for item in _suspects(run) + _from_predictions(run):
        if item.path in seen or not item.path.is_file():
            continue
        seen.add(item.path)
        if book is None or book.decision_for(item.path) is None:
            queue.append(item)
    return queue
