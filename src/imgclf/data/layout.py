"""Find the images and labels of a dataset in any supported layout, and split it when needed."""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from imgclf.data.corrections import EXCLUDED_FOLDER, Corrections, load_corrections
from imgclf.data.decode import IMAGE_EXTENSIONS
from imgclf.errors import ImgclfError

__all__ = ["SPLITS", "DatasetError", "DatasetLayout", "Sample", "discover", "image_files", "is_hidden"]

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_SYSTEM_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx", ".ds_store", "ehthumbs.db", EXCLUDED_FOLDER})


class DatasetError(ImgclfError, ValueError):
    """The dataset cannot be used as given; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One file of the dataset with its label and split."""

    path: Path
    label: str
    split: str


@dataclasses.dataclass(frozen=True)
class DatasetLayout:
    """What :func:`discover` found: every candidate file, the classes, and ignored system files.

    ``corrections`` is the review corrections file that applied (``None`` when none did); ``relabelled``
    lists ``(path, folder label, new label)`` and ``excluded`` the samples review took out.
    """

    root: Path
    kind: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    ignored: tuple[Path, ...] = ()
    empty_classes: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    corrections: Path | None = None
    relabelled: tuple[tuple[Path, str, str], ...] = ()
    excluded: tuple[Sample, ...] = ()

    def split(self, name: str) -> list[Sample]:
        """The samples of split ``name`` (train, val or test)."""
        return [s for s in self.samples if s.split == name]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits that hold at least one sample, in train/val/test order."""
        present = {s.split for s in self.samples}
        return tuple(s for s in SPLITS if s in present)


def is_hidden(path: Path, root: Path) -> bool:
    """True for hidden and system files (``.DS_Store``, ``.ipynb_checkpoints``, ``Thumbs.db``...)."""
    parts = path.relative_to(root).parts
    return any(p.startswith(".") or p.lower() in _SYSTEM_NAMES for p in parts)


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the image files under directories (sorted, hidden and system files skipped)."""
    out: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            out += [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not is_hidden(p, path)
            ]
        else:
            out.append(path)
    return out


def _walk(folder: Path, root: Path) -> tuple[list[Path], list[Path]]:
    files, hidden = [], []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            (hidden if is_hidden(path, root) else files).append(path)
    return files, hidden


def _class_dirs(folder: Path, root: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not is_hidden(d, root))


def _stratified(samples: list[Sample], fractions: Sequence[float], names: Sequence[str], seed: int) -> list[Sample]:
    """Reassign ``samples`` to splits ``names`` per class with ``fractions`` (each class gets >=1 train)."""
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_class[s.label].append(s)
    rng = random.Random(seed)
    out: list[Sample] = []
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda s: str(s.path))
        rng.shuffle(items)
        n = len(items)
        counts = [round(n * f) for f in fractions[1:]]
        if n >= 2:
            counts = [max(1, c) if f > 0 else 0 for c, f in zip(counts, fractions[1:], strict=True)]
        while sum(counts) > n - 1 and any(counts):
            counts[counts.index(max(counts))] -= 1
        start, bounds = n - sum(counts), []
        for c in counts:
            bounds.append((start, start + c))
            start += c
        for i, s in enumerate(items):
            split = names[0]
            for name, (lo, hi) in zip(names[1:], bounds, strict=True):
                if lo <= i < hi:
                    split = name
            out.append(dataclasses.replace(s, split=split))
    return out


def _from_folders(root: Path, split_dirs: dict[str, Path]) -> tuple[list[Sample], list[Path], list]:
    samples, ignored, empty = [], [], []
    for split, folder in split_dirs.items():
        for class_dir in _class_dirs(folder, root):
            files, hidden = _walk(class_dir, root)
            ignored += hidden
            if not files:
                empty.append((split, class_dir.name))
            samples += [Sample(p, class_dir.name, split) for p in files]
        ignored += sorted(p for p in folder.iterdir() if p.is_file())
        for hidden_dir in sorted(d for d in folder.iterdir() if d.is_dir() and is_hidden(d, root)):
            ignored += _walk(hidden_dir, root)[1]
    return samples, ignored, empty


def _csv_sample(row: dict, line: int, csv_path: Path) -> Sample:
    path_text, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
    split_text = (row.get("split") or "").strip()
    if not path_text or not label:
        raise DatasetError(f"CSV '{csv_path}' line {line} has no path or no label ({row}); fill both or delete it.")
    if split_text and split_text.lower() not in _SPLIT_ALIASES:
        raise DatasetError(
            f"CSV '{csv_path}' line {line} has split '{split_text}'; use train, val or test (or leave it empty)."
        )
    path = Path(path_text).expanduser()
    return Sample(
        path if path.is_absolute() else csv_path.parent / path, label, _SPLIT_ALIASES.get(split_text.lower(), "")
    )


def _from_csv(csv_path: Path) -> list[Sample]:
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                raise DatasetError(f"CSV '{csv_path}' needs a header with 'path' and 'label' (and optional 'split').")
            samples = [_csv_sample(row, reader.line_num, csv_path) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(
            f"Cannot read CSV '{csv_path}' ({exc}); save it as UTF-8 text with a path,label header."
        ) from exc
    with_split = sum(1 for s in samples if s.split)
    if 0 < with_split < len(samples):
        raise DatasetError(
            f"CSV '{csv_path}' gives a split for {with_split} of {len(samples)} rows; fill the split column for "
            "every row, or leave it empty everywhere to split automatically."
        )
    return samples


def _check_fractions(split: Sequence[float]) -> None:
    values = list(split)
    if len(values) != 3 or any(not 0 <= f <= 1 for f in values) or abs(sum(values) - 1) > 1e-6 or values[0] <= 0:
        raise DatasetError(
            f"split={values} must be three train/val/test fractions in [0, 1] that sum to 1 with train > 0, "
            "e.g. 0.7 0.15 0.15."
        )


def _held(samples: list[Sample], held: frozenset[str], key) -> tuple[list[Sample], list[Sample]]:
    """Samples to split automatically, and those review added (they join train, so other splits never shift)."""
    added = [dataclasses.replace(s, split="train") for s in samples if key(s.path) in held]
    return [s for s in samples if key(s.path) not in held], added


@dataclasses.dataclass(frozen=True)
class _Found:
    """What a layout reader found, before review corrections."""

    samples: list[Sample]
    kind: str
    notes: list[str]
    ignored: list[Path] = dataclasses.field(default_factory=list)
    empty: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _find_csv(root: Path, split: Sequence[float], seed: int, book: Corrections) -> _Found:
    """The rows of a CSV dataset, plus the photos review added; split automatically when it has no split column."""
    listed = _from_csv(root)
    known = {book.key(s.path) for s in listed}
    listed += [Sample(book.path_of(k), label, "") for k, label in book.added().items() if k not in known]
    samples, added = _held(listed, frozenset(book.added()), book.key)
    notes = []
    if not samples or not samples[0].split:
        samples = _stratified(samples, split, SPLITS, seed)
        notes.append(f"Split {len(samples)} rows {split} with seed {seed}.")
    return _Found(samples + added, "csv", notes)


def _find_folders(root: Path, split: Sequence[float], seed: int, book: Corrections) -> _Found:
    """The class folders of ``root`` (under split folders or not), split where no folder says how."""
    held = frozenset(book.added())
    split_dirs = {
        _SPLIT_ALIASES[d.name.lower()]: d for d in root.iterdir() if d.is_dir() and d.name.lower() in _SPLIT_ALIASES
    }
    if split_dirs and "train" not in split_dirs:
        raise DatasetError(f"'{root}' has {sorted(split_dirs)} folders but no 'train' folder.")
    if not split_dirs:
        samples, ignored, empty = _from_folders(root, {"train": root})
        samples, added = _held(samples, held, book.key)
        note = f"One folder of classes: split {list(split)} stratified with seed {seed}."
        return _Found(_stratified(samples, split, SPLITS, seed) + added, "class-folders", [note], ignored, empty)
    samples, ignored, empty = _from_folders(root, split_dirs)
    notes = []
    if "val" not in split_dirs:
        train, added = _held([s for s in samples if s.split == "train"], held, book.key)
        val_share = split[1] / (split[0] + split[1])
        carved = _stratified(train, (1 - val_share, val_share), ("train", "val"), seed)
        samples = carved + added + [s for s in samples if s.split != "train"]
        notes.append(f"No val folder: carved {val_share:.0%} of train as validation (seed {seed}).")
    if "test" not in split_dirs:
        notes.append("No test folder: the final evaluation uses the validation split.")
    return _Found(samples, "/".join(s for s in SPLITS if s in split_dirs), notes, ignored, empty)


def _corrected(samples: list[Sample], book: Corrections) -> tuple[list[Sample], list, list[Sample], str | None]:
    """Apply the latest review decisions: relabelled samples take the new label, excluded ones are set apart."""
    kept, relabelled, excluded = [], [], []
    for sample in samples:
        label = book.corrected_label(sample.path, sample.label)
        if label is None:
            excluded.append(sample)
            continue
        if label != sample.label:
            relabelled.append((sample.path, sample.label, label))
        kept.append(dataclasses.replace(sample, label=label))
    if not book.latest:
        return kept, relabelled, excluded, None
    added = len(book.added())
    note = (
        f"Review corrections from {book.file}: {len(relabelled)} relabelled, {len(excluded)} excluded"
        + (f", {added} added" if added else "")
        + ("" if book.in_dataset else " (kept beside the runs: the dataset folder is read-only)")
        + "."
    )
    return kept, relabelled, excluded, note


def discover(
    data: str | Path,
    *,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    corrections: bool = True,
    runs: str | Path | None = None,
) -> DatasetLayout:
    """Find every candidate file in ``data`` and its label and split, with review corrections applied.

    Layouts: ``{train,val,test}/<class>/``, ``{train,val}/<class>/``, ``{train,test}/<class>/`` (val carved
    from train), ``<class>/`` (split ``split`` with ``seed``), or a CSV file of ``path,label[,split]``.
    The dataset's corrections file (see :mod:`imgclf.data.corrections`; ``runs`` is where a read-only
    dataset's is kept) relabels and excludes samples after splitting, so no other sample changes split;
    ``corrections=False`` reads the folders as they are.
    """
    _check_fractions(split)
    root = Path(data).expanduser()
    if not root.exists():
        raise DatasetError(f"Dataset '{root}' does not exist; pass a folder of class folders or a CSV file.")
    if root.is_file() and root.suffix.lower() != ".csv":
        raise DatasetError(f"'{root}' is a file but not a .csv; pass a folder of class folders or a CSV.")
    book = load_corrections(root, runs)
    if not corrections:
        book = dataclasses.replace(book, decisions=())
    found = _find_csv(root, split, seed, book) if root.is_file() else _find_folders(root, split, seed, book)
    samples, relabelled, excluded, note = _corrected(found.samples, book)
    classes = tuple(sorted({s.label for s in samples} | {c for _, c in found.empty}))
    return DatasetLayout(
        root=root,
        kind=found.kind,
        classes=classes,
        samples=tuple(samples),
        ignored=tuple(p for p in found.ignored if p != book.file),
        empty_classes=tuple(found.empty),
        notes=tuple(found.notes + ([note] if note else [])),
        corrections=book.file if book.decisions else None,
        relabelled=tuple(relabelled),
        excluded=tuple(excluded),
    )
