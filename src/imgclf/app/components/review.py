"""The Review page's parts: the one-image-at-a-time queue, the decisions with their folder plan, new photos.

Every decision goes through :mod:`imgclf.data.review` into the dataset's corrections file; files only move
with "Apply to folders", after the plan is shown. Photos classified on the Classify page are remembered in
the session (:func:`remember_classified`) so they can be added to the dataset here, uncertain ones first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import ImageOps

from imgclf.app.components.inputs import InputImage
from imgclf.app.components.text import md_escape
from imgclf.data.corrections import apply_to_folders, load_corrections, plan_folder_changes
from imgclf.data.decode import DecodeError, open_image
from imgclf.data.review import add_image, record_decision
from imgclf.engine.predictor import Prediction
from imgclf.errors import ImgclfError
from imgclf.evaluation.review_queue import ReviewItem

__all__ = [
    "CLASSIFIED_KEY",
    "SHORTCUTS",
    "remember_classified",
    "render_add_photos",
    "render_decisions",
    "render_queue",
]

CLASSIFIED_KEY = "classified_photos"  # {sha256: {"name", "data", "label", "confidence", "status"}}
SHORTCUTS = {"keep": "K", "accept": "A", "move": "M", "exclude": "X", "skip": "S"}
_SKIPPED_KEY = "review_skipped"
_MESSAGE_KEY = "review_message"
_ADDED_KEY = "review_added"
_KEPT_PHOTOS = 50
_SIDE = 360
_FLAGGED_FIRST = {"unfamiliar": 0, "uncertain": 1}


def remember_classified(images: Sequence[InputImage], predictions: Sequence[Prediction]) -> None:
    """Keep the session's classified photos and their predictions for the Review page (the latest 50)."""
    kept: dict[str, dict] = st.session_state.setdefault(CLASSIFIED_KEY, {})
    for image, pred in zip(images, predictions, strict=True):
        if pred.status != "error":
            entry = {"name": image.name, "data": image.data, "label": pred.label, "confidence": pred.confidence}
            kept[image.digest] = {**entry, "status": pred.status}
    while len(kept) > _KEPT_PHOTOS:
        kept.pop(next(iter(kept)))


def _say(kind: str, text: str) -> None:
    st.session_state[_MESSAGE_KEY] = (kind, text)


def _show_message() -> None:
    kind, text = st.session_state.pop(_MESSAGE_KEY, ("", ""))
    if text:
        (st.success if kind == "success" else st.error)(md_escape(text))


def _decide(data: Path, runs: Path, path: Path, action: str, label: str | None = None) -> None:
    """Button callback: record one decision (runs before the page, so the queue moves on at once)."""
    try:
        decision = record_decision(data, path, action, label, runs=runs)
    except ImgclfError as exc:
        _say("error", str(exc))
        return
    change = f" -> {decision.new_label}" if decision.action == "relabel" else ""
    _say("success", f"{decision.action}: {decision.path}{change}")


def _skip(path: Path) -> None:
    st.session_state.setdefault(_SKIPPED_KEY, []).append(str(path))


def _picture(path: Path) -> None:
    try:
        st.image(ImageOps.contain(open_image(path, draft_size=_SIDE), (_SIDE, _SIDE)))
    except DecodeError as exc:
        st.warning(md_escape(exc))


def _buttons(item: ReviewItem, classes: Sequence[str], data: Path, runs: Path) -> None:
    args = (data, runs, item.path)
    left, middle, right = st.columns(3)
    left.button(
        f"Keep as {item.label}",
        key="review-keep",
        shortcut=SHORTCUTS["keep"],
        on_click=_decide,
        args=(*args, "keep"),
        icon=":material/check:",
    )
    middle.button(
        f"Relabel as {item.suggested}",
        key="review-accept",
        shortcut=SHORTCUTS["accept"],
        on_click=_decide,
        args=(*args, "relabel", item.suggested),
        icon=":material/label:",
        disabled=item.suggested in (None, item.label) or item.suggested not in classes,
    )
    right.button(
        "Exclude",
        key="review-exclude",
        shortcut=SHORTCUTS["exclude"],
        on_click=_decide,
        args=(*args, "exclude"),
        icon=":material/block:",
    )
    others = [c for c in classes if c != item.label]
    target = left.selectbox("Move to class", others, key=f"review-move-to-{item.label}") if others else None
    middle.button(
        "Move",
        key="review-move",
        shortcut=SHORTCUTS["move"],
        on_click=_decide,
        args=(*args, "relabel", target),
        disabled=target is None,
        icon=":material/drive_file_move:",
    )
    right.button(
        "Skip for now",
        key="review-skip",
        shortcut=SHORTCUTS["skip"],
        on_click=_skip,
        args=(item.path,),
        icon=":material/skip_next:",
    )


def render_queue(queue: Sequence[ReviewItem], classes: Sequence[str], data: Path, runs: Path) -> None:
    """The first image of ``queue`` (skipped ones last) with keep / relabel / move / exclude buttons."""
    _show_message()
    if not queue:
        st.success("Nothing left to review: every suspect, error and flagged image has a decision.")
        return
    skipped = st.session_state.get(_SKIPPED_KEY, [])
    ordered = sorted(queue, key=lambda item: str(item.path) in skipped)
    item = ordered[0]
    kinds = pd.Series([i.kind for i in queue]).value_counts()
    st.caption(f"{len(queue)} to review: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    picture, facts = st.columns([1, 1])
    with picture:
        _picture(item.path)
    with facts:
        st.markdown(f"**Label:** {md_escape(item.label)}  \n**Model suggests:** {md_escape(item.suggested or '-')}")
        st.caption(md_escape(item.reason))
        st.caption(md_escape(item.path))
    _buttons(item, classes, data, runs)
    keys = ", ".join(f"{key} {name}" for name, key in SHORTCUTS.items())
    st.caption(f"Keyboard: {keys} (accept = relabel as the model suggests).")


def _apply(data: Path, runs: Path) -> None:
    try:
        book = apply_to_folders(plan_folder_changes(load_corrections(data, runs)))
    except ImgclfError as exc:
        _say("error", str(exc))
        return
    moved = sum(1 for d in book.decisions if d.action == "applied")
    _say("success", f"Applied: the files are in their new folders ({moved} applied in all).")


def render_decisions(data: Path, runs: Path) -> None:
    """The latest decision per image, the folder plan, and the explicit "Apply to folders" step."""
    _show_message()
    book = load_corrections(data, runs)
    if not book.latest:
        st.caption("No decisions yet.")
        return
    st.dataframe(pd.DataFrame([d.to_row() for d in book.latest.values()]), hide_index=True)
    plan = plan_folder_changes(book)
    if not plan.changes and not plan.problems:
        st.caption("Nothing to move in the folders.")
        return
    st.markdown("**What Apply to folders would do** (excluded images go to `_excluded/`, nothing is deleted):")
    st.code("\n".join(plan.lines()), language=None)
    if not book.in_dataset:
        st.info("The dataset folder is read-only: the corrections apply whenever imgclf reads it, files stay put.")
        return
    sure = st.checkbox(f"Move these {len(plan.changes)} file(s)", key="review-apply-sure")
    st.button(
        "Apply to folders",
        key="review-apply",
        disabled=not sure or not plan.changes,
        on_click=_apply,
        args=(data, runs),
        type="primary",
    )


def _add(data: Path, runs: Path, digest: str, name: str, key: str) -> None:
    photo = st.session_state.get(CLASSIFIED_KEY, {}).get(digest)
    if photo is None:
        return
    try:
        decision = add_image(data, photo["data"], name, st.session_state[key], runs=runs)
    except ImgclfError as exc:
        _say("error", str(exc))
        return
    st.session_state.setdefault(_ADDED_KEY, {})[digest] = decision.path
    _say("success", f"Added {name} as {decision.path}.")


def render_add_photos(data: Path, runs: Path, classes: Sequence[str]) -> None:
    """Photos classified in this session, unfamiliar and uncertain first, each addable under a chosen class."""
    _show_message()
    photos: dict[str, dict] = st.session_state.get(CLASSIFIED_KEY, {})
    if not photos:
        st.caption("Classify photos on the Classify page; they appear here, the uncertain ones first.")
        return
    added = st.session_state.get(_ADDED_KEY, {})
    order = sorted(photos, key=lambda d: (_FLAGGED_FIRST.get(photos[d]["status"], 2), photos[d]["confidence"]))
    for i, digest in enumerate(order):
        photo = photos[digest]
        picture, form = st.columns([1, 2])
        picture.image(photo["data"], width=160)
        form.markdown(
            f"**{md_escape(photo['name'])}**: {md_escape(photo['label'])} at {photo['confidence']:.0%} "
            f"({md_escape(photo['status'])})"
        )
        if digest in added:
            form.caption(f"Added as {md_escape(added[digest])}")
            continue
        default = classes.index(photo["label"]) if photo["label"] in classes else 0
        key = f"review-add-class-{i}"
        form.selectbox("Class", classes, index=default, key=key)
        form.button(
            "Add to the training images",
            key=f"review-add-{i}",
            on_click=_add,
            args=(data, runs, digest, photo["name"], key),
        )
