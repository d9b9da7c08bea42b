"""The dataset health report: issues found by :func:`imgclf.data.check.check_dataset`, as data, JSON and a table."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgclf.data.layout import SPLITS, DatasetError, DatasetLayout

__all__ = ["ERROR", "UNUSABLE_KINDS", "WARNING", "DatasetReport", "Issue", "display_path"]

ERROR, WARNING = "error", "warning"
UNUSABLE_KINDS = frozenset({"unreadable", "zero-byte", "not-image", "corrupt", "too-large", "file-too-large"})
_SHOWN_PER_KIND = 5


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to the dataset ``root`` (a folder, or a CSV file's folder) when it lies inside."""
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding: ``kind`` (e.g. "corrupt", "leakage"), ``severity`` (error|warning), the files, advice."""

    kind: str
    severity: str
    paths: tuple[Path, ...]
    message: str


@dataclasses.dataclass(frozen=True)
class DatasetReport:
    """The result of :func:`check_dataset`: layout, usable-image counts, format mix of usable images, issues, notes."""

    layout: DatasetLayout
    counts: Mapping[str, Mapping[str, int]]
    formats: Mapping[str, int]
    issues: tuple[Issue, ...]
    notes: tuple[str, ...]

    @property
    def root(self) -> Path:
        """The dataset folder (or CSV file) that was checked."""
        return self.layout.root

    @property
    def classes(self) -> tuple[str, ...]:
        """Every class name, sorted."""
        return self.layout.classes

    @property
    def ignored(self) -> tuple[Path, ...]:
        """Hidden and system files (``.DS_Store``, ``Thumbs.db``...) that were skipped."""
        return self.layout.ignored

    @property
    def imbalance(self) -> float | None:
        """Largest over smallest train class count (None when a class has no usable train image)."""
        train = [self.counts.get("train", {}).get(c, 0) for c in self.classes]
        return max(train) / min(train) if train and min(train) > 0 else None

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues of severity "error"."""
        return tuple(i for i in self.issues if i.severity == ERROR)

    @property
    def is_safe(self) -> bool:
        """True when nothing makes training unsafe (warnings allowed)."""
        return not self.errors

    @property
    def unusable(self) -> dict[str, int]:
        """How many files of each unusable kind ("corrupt", "too-large"...) were left out of every count."""
        return dict(Counter(i.kind for i in self.issues if i.kind in UNUSABLE_KINDS))

    @property
    def bad_files(self) -> frozenset[Path]:
        """Files that cannot be decoded; training skips them."""
        return frozenset(p for i in self.issues if i.kind in UNUSABLE_KINDS for p in i.paths)

    def raise_if_untrainable(self) -> None:
        """Raise :class:`DatasetError` for an empty class, a single class, or a train class with < 2 images."""
        train = self.counts.get("train", {})
        where = f"in '{self.root}'"
        empty = [c for c in self.classes if train.get(c, 0) == 0]
        if empty:
            raise DatasetError(
                f"Class(es) {empty} have no usable training images {where}; add images to them or delete "
                "their folders (run `imgclf check` for details)."
            )
        if len(self.classes) < 2:
            raise DatasetError(
                f"Only {len(self.classes)} class {list(self.classes)} found {where}; a classifier needs at "
                "least 2 classes, each in its own folder of images."
            )
        few = {c: train[c] for c in self.classes if train[c] < 2}
        if few:
            raise DatasetError(
                f"Train class(es) with fewer than 2 usable images {where}: {few}; add images (ideally 20+ each)."
            )

    def _rel(self, path: Path) -> str:
        return display_path(path, self.root)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary; paths are relative to the dataset root."""
        return {
            "root": str(self.root),
            "layout": self.layout.kind,
            "classes": list(self.classes),
            "counts": {split: dict(per_class) for split, per_class in self.counts.items()},
            "imbalance": self.imbalance,
            "formats": dict(self.formats),
            "unusable": self.unusable,
            "is_safe": self.is_safe,
            "issues": [
                {"kind": i.kind, "severity": i.severity, "paths": [self._rel(p) for p in i.paths], "message": i.message}
                for i in self.issues
            ],
            "bad_files": sorted(self._rel(p) for p in self.bad_files),
            "ignored": [self._rel(p) for p in self.ignored],
            "corrections": {
                "file": None if self.layout.corrections is None else str(self.layout.corrections),
                "relabelled": [[self._rel(p), old, new] for p, old, new in self.layout.relabelled],
                "excluded": [self._rel(s.path) for s in self.layout.excluded],
            },
            "notes": list(self.notes),
        }

    def format_table(self) -> str:
        """A readable report for the terminal: counts per class and split, formats, issues, verdict."""
        splits = [s for s in SPLITS if s in self.counts]
        width = max([5, *(len(c) for c in self.classes)])
        lines = [f"Dataset {self.root}  (layout {self.layout.kind}, {len(self.classes)} classes)", ""]
        lines.append(f"{'class':<{width}}" + "".join(f"{s:>8}" for s in splits))
        for label in self.classes:
            lines.append(f"{label:<{width}}" + "".join(f"{self.counts[s].get(label, 0):>8}" for s in splits))
        lines.append(f"{'total':<{width}}" + "".join(f"{sum(self.counts[s].values()):>8}" for s in splits))
        ratio = "n/a" if self.imbalance is None else f"{self.imbalance:.2f}"
        lines += ["", f"Imbalance (largest/smallest train class): {ratio}"]
        lines.append("Formats: " + (", ".join(f"{f} {n}" for f, n in self.formats.items()) or "none"))
        if self.unusable:
            kinds = ", ".join(f"{kind} {n}" for kind, n in self.unusable.items())
            lines.append(f"Unusable files (left out of the counts above, skipped in training): {kinds}")
        lines += [f"Note: {note}" for note in self.notes]
        lines += ["", *self._issue_lines()]
        verdict = "SAFE to train" if self.is_safe else "NOT safe to train: fix the errors above"
        lines += [
            "",
            f"Verdict: {verdict} ({len(self.errors)} errors, {len(self.issues) - len(self.errors)} warnings).",
        ]
        return "\n".join(lines)

    def _issue_lines(self) -> list[str]:
        if not self.issues:
            return ["No issues found."]
        by_kind: dict[tuple[str, str], list[Issue]] = defaultdict(list)
        for issue in sorted(self.issues, key=lambda i: i.severity != ERROR):
            by_kind[issue.severity, issue.kind].append(issue)
        lines = ["Issues:"]
        for (_, kind), group in by_kind.items():
            for issue in group[:_SHOWN_PER_KIND]:
                lines.append(f"  {issue.severity.upper():<7} {kind}: {issue.message}")
            if len(group) > _SHOWN_PER_KIND:
                lines.append(f"  ... and {len(group) - _SHOWN_PER_KIND} more {kind} (imgclf check --json lists all)")
        return lines
