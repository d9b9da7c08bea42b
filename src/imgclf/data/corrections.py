"""The corrections file: review decisions on a dataset's images (keep, relabel, exclude, add), kept apart from them.

Decisions are appended to ``imgclf-corrections.csv`` (``path,old_label,new_label,action,when``; paths relative
to the dataset folder) in the dataset folder, or, when that folder is read-only, in
``RUNS/corrections/<name>-<hash>.csv`` keyed by the dataset's absolute path. The latest decision per path
wins. Reading a dataset applies them (:func:`imgclf.data.layout.discover`); image files only move through
:func:`apply_to_folders`, after :func:`plan_folder_changes` has shown what will change. Excluded files go to
``DATA/_excluded/``, never deleted. This module is the only reader and writer of the file.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from imgclf.errors import ImgclfError

__all__ = [
    "ACTIONS",
    "CORRECTIONS_FILE",
    "DEFAULT_RUNS",
    "EXCLUDED_FOLDER",
    "Corrections",
    "CorrectionsError",
    "Decision",
    "FolderChange",
    "FolderPlan",
    "append_decision",
    "apply_to_folders",
    "is_writable",
    "load_corrections",
    "new_decision",
    "plan_folder_changes",
]

CORRECTIONS_FILE = "imgclf-corrections.csv"
EXCLUDED_FOLDER = "_excluded"
DEFAULT_RUNS = Path("runs")
ACTIONS = ("keep", "relabel", "exclude", "add", "applied")
FIELDS = ("path", "old_label", "new_label", "action", "when")


class CorrectionsError(ImgclfError, ValueError):
    """A decision cannot be recorded or applied; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """One review decision. ``path`` is relative to the dataset folder (absolute when outside it).

    ``relabel``: ``new_label`` replaces ``old_label``; ``keep``: reviewed, ``new_label`` (the label shown)
    confirmed; ``exclude``: the image leaves the dataset (``new_label`` empty); ``add``: a new image copied
    into the dataset as ``new_label``; ``applied``: an earlier decision on this path was carried out on the
    folders and no longer applies.
    """

    path: str
    old_label: str
    new_label: str
    action: str
    when: str

    def to_row(self) -> dict[str, str]:
        """The CSV row."""
        return dataclasses.asdict(self)


def new_decision(path: str, old_label: str, new_label: str, action: str) -> Decision:
    """A decision stamped with the current UTC time (``action`` must be one of :data:`ACTIONS`)."""
    if action not in ACTIONS:
        raise CorrectionsError(f"Unknown review action '{action}'; use one of {', '.join(ACTIONS)}.")
    return Decision(path, old_label, new_label, action, datetime.now(UTC).isoformat(timespec="seconds"))


def is_writable(folder: Path) -> bool:
    """True when ``folder`` may be written: the process can, and its mode is not marked read-only for all."""
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


def _inside(path: str | Path, folder: Path) -> bool:
    absolute, root = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([absolute, root]) == root


def _base(dataset: Path) -> Path:
    """The folder paths are relative to: the dataset folder, or a CSV file's folder."""
    return dataset.parent if dataset.is_file() else dataset


def _location(dataset: Path, runs: Path) -> tuple[Path, bool]:
    """Where the corrections of ``dataset`` live, and whether that is inside the dataset."""
    base = _base(dataset)
    if is_writable(base):
        return base / CORRECTIONS_FILE, True
    absolute = os.path.abspath(dataset)
    digest = hashlib.sha1(absolute.encode("utf-8")).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(absolute).name).strip(".-") or "dataset"
    return runs / "corrections" / f"{name}-{digest}.csv", False


@dataclasses.dataclass(frozen=True)
class Corrections:
    """The decisions recorded for one dataset, and where they are kept."""

    dataset: Path
    file: Path
    in_dataset: bool
    decisions: tuple[Decision, ...] = ()

    @property
    def base(self) -> Path:
        """The folder the decisions' paths are relative to."""
        return _base(self.dataset)

    def key(self, path: str | Path) -> str:
        """How ``path`` (absolute, or relative to the working directory) is written in the file."""
        absolute = os.path.abspath(path)
        return Path(os.path.relpath(absolute, self.base)).as_posix() if _inside(path, self.base) else absolute

    def path_of(self, key: str) -> Path:
        """The file a decision's ``path`` names."""
        return self.base / key

    @functools.cached_property
    def latest(self) -> dict[str, Decision]:
        """The latest decision per path, leaving out paths whose decisions were applied to the folders."""
        out: dict[str, Decision] = {}
        for decision in self.decisions:
            out[decision.path] = decision
        return {key: d for key, d in out.items() if d.action != "applied"}

    def decision_for(self, path: str | Path) -> Decision | None:
        """The pending decision on the file ``path``, if any."""
        return self.latest.get(self.key(path))

    def corrected_label(self, path: str | Path, label: str) -> str | None:
        """The label of ``path`` once decisions apply (``label`` unless relabelled), or ``None`` when excluded."""
        decision = self.decision_for(path)
        if decision is None:
            return label
        return None if decision.action == "exclude" else decision.new_label or label

    def added(self) -> dict[str, str]:
        """Paths that review added to the dataset, with the class they were added as (always train split)."""
        return {d.path: d.new_label for d in self.decisions if d.action == "add"}

    def where(self) -> str:
        """One sentence saying where the file is, for people."""
        if self.in_dataset:
            return f"Corrections are saved in {self.file}."
        return (
            f"The dataset folder {self.dataset} is read-only, so corrections are saved beside the runs in "
            f"{self.file}; imgclf applies them whenever it reads the dataset."
        )


def _read(file: Path) -> tuple[Decision, ...]:
    if not file.is_file():
        return ()
    try:
        with file.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != FIELDS:
                raise CorrectionsError(
                    f"Corrections file '{file}' must start with the header {','.join(FIELDS)}; "
                    "restore it or move it away."
                )
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CorrectionsError(f"Cannot read corrections file '{file}' ({exc}); restore it or move it away.") from exc
    decisions = []
    for line, row in rows:
        if row["action"] not in ACTIONS or not row["path"]:
            raise CorrectionsError(
                f"Corrections file '{file}' line {line} has path '{row['path']}' and action '{row['action']}'; "
                f"every row needs a path and one of {', '.join(ACTIONS)}. Fix or delete that line."
            )
        decisions.append(Decision(**{name: row[name] or "" for name in FIELDS}))
    return tuple(decisions)


def load_corrections(data: str | Path, runs: str | Path | None = None) -> Corrections:
    """The corrections of the dataset ``data`` (folder or CSV); ``runs`` is where a read-only dataset's live."""
    dataset = Path(data).expanduser()
    if not dataset.exists():
        raise CorrectionsError(f"Dataset '{dataset}' does not exist; pass the folder (or CSV) given to 'imgclf train'.")
    file, in_dataset = _location(dataset, Path(runs).expanduser() if runs is not None else DEFAULT_RUNS)
    return Corrections(dataset, file, in_dataset, _read(file))


def append_decision(corrections: Corrections, decision: Decision) -> Corrections:
    """Append ``decision`` to the file (created with its header when new) and return the updated corrections."""
    file = corrections.file
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        new = not file.exists() or file.stat().st_size == 0
        with file.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(decision.to_row())
    except OSError as exc:
        raise CorrectionsError(
            f"Cannot write the corrections file '{file}' ({exc.strerror or exc}); make its folder writable."
        ) from exc
    return dataclasses.replace(corrections, decisions=(*corrections.decisions, decision))


@dataclasses.dataclass(frozen=True)
class FolderChange:
    """One file move that carries out a decision: to another class folder, or into ``_excluded/``."""

    decision: Decision
    source: Path
    target: Path

    def describe(self, base: Path) -> str:
        """``move a -> b`` with paths relative to the dataset folder."""
        verb = "exclude" if self.decision.action == "exclude" else "move"
        return f"{verb:<8} {self.source.relative_to(base).as_posix()} -> {self.target.relative_to(base).as_posix()}"


@dataclasses.dataclass(frozen=True)
class FolderPlan:
    """What :func:`apply_to_folders` would do, and the decisions it cannot carry out (with why)."""

    corrections: Corrections
    changes: tuple[FolderChange, ...]
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        """The plan for people: one line per move, then the problems."""
        base = self.corrections.base
        return [change.describe(base) for change in self.changes] + [f"cannot   {p}" for p in self.problems]


def _free(target: Path, taken: set[Path]) -> Path:
    """``target``, or ``name-2.ext``, ``name-3.ext``... when that file exists or is already planned."""
    candidate, n = target, 2
    while candidate.exists() or candidate in taken:
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        n += 1
    return candidate


def plan_folder_changes(corrections: Corrections) -> FolderPlan:
    """The moves that carry out the pending relabel and exclude decisions; nothing is touched."""
    changes, problems, taken = [], [], set()
    base = corrections.base
    for key, decision in sorted(corrections.latest.items()):
        if decision.action not in ("relabel", "exclude"):
            continue
        source = corrections.path_of(key)
        if corrections.dataset.is_file():
            problems.append(f"{key}: the dataset is a CSV file; change its label column (imgclf already applies it)")
            continue
        if not source.is_file() or not _inside(source, base):
            problems.append(f"{key}: no such file in the dataset (moved or deleted since?)")
            continue
        if decision.action == "relabel":
            target = source.parent.parent / decision.new_label / source.name
        else:
            target = base / EXCLUDED_FOLDER / key
        target = _free(target, taken)
        taken.add(target)
        changes.append(FolderChange(decision, source, target))
    return FolderPlan(corrections, tuple(changes), tuple(problems))


def apply_to_folders(plan: FolderPlan) -> Corrections:
    """Carry out ``plan``'s moves (never deleting a file) and mark each decision applied; refuse a read-only dataset."""
    corrections = plan.corrections
    folders = {corrections.base} | {c.source.parent for c in plan.changes}
    locked = sorted(str(f) for f in folders if not is_writable(f))
    if not corrections.in_dataset or locked:
        raise CorrectionsError(
            f"The dataset {corrections.dataset} is read-only ({', '.join(locked) or 'its folder'}), so no file was "
            f"moved. The corrections in {corrections.file} already apply whenever imgclf reads it; copy the dataset "
            "somewhere writable to apply them to its folders."
        )
    for change in plan.changes:
        change.target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(change.source, change.target)
        d = change.decision
        corrections = append_decision(corrections, new_decision(d.path, d.old_label, d.new_label, "applied"))
    return corrections
