"""Find the images and labels of a dataset in any supported layout, and split it when needed."""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from imgclf.errors import ImgclfError

__all__ = ["SPLITS", "DatasetError", "DatasetLayout", "Sample", "discover", "is_hidden"]

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_SYSTEM_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx", ".ds_store", "ehthumbs.db"})


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
    """What :func:`discover` found: every candidate file, the classes, and ignored system files."""

    root: Path
    kind: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    ignored: tuple[Path, ...] = ()
    empty_classes: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

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
        ignored += [p for p in folder.iterdir() if p.is_file()]
    return samples, ignored, empty


def _from_csv(csv_path: Path) -> list[Sample]:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"CSV '{csv_path}' needs a header with 'path' and 'label' (and optional 'split').")
        samples = []
        for row in reader:
            path = Path(row["path"])
            path = path if path.is_absolute() else csv_path.parent / path
            split = _SPLIT_ALIASES.get((row.get("split") or "").strip().lower(), "")
            samples.append(Sample(path, row["label"].strip(), split))
    return samples


def discover(data: str | Path, *, split: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> DatasetLayout:
    """Find every candidate file in ``data`` and its label and split.

    Layouts: ``{train,val,test}/<class>/``, ``{train,val}/<class>/``, ``{train,test}/<class>/`` (val carved
    from train), ``<class>/`` (split ``split`` with ``seed``), or a CSV file of ``path,label[,split]``.
    """
    root = Path(data).expanduser()
    if not root.exists():
        raise DatasetError(f"Dataset '{root}' does not exist; pass a folder of class folders or a CSV file.")
    notes: list[str] = []
    ignored: list[Path] = []
    empty: list = []
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise DatasetError(f"'{root}' is a file but not a .csv; pass a folder of class folders or a CSV.")
        samples, kind = _from_csv(root), "csv"
        if all(s.split for s in samples):
            pass
        else:
            samples = _stratified(samples, split, SPLITS, seed)
            notes.append(f"Split {len(samples)} rows {split} with seed {seed}.")
    else:
        split_dirs = {
            _SPLIT_ALIASES[d.name.lower()]: d
            for d in root.iterdir()
            if d.is_dir() and d.name.lower() in _SPLIT_ALIASES
        }
        if split_dirs and "train" not in split_dirs:
            raise DatasetError(f"'{root}' has {sorted(split_dirs)} folders but no 'train' folder.")
        if split_dirs:
            samples, ignored, empty = _from_folders(root, split_dirs)
            kind = "/".join(s for s in SPLITS if s in split_dirs)
            if "val" not in split_dirs:
                train = [s for s in samples if s.split == "train"]
                val_share = split[1] / (split[0] + split[1])
                carved = _stratified(train, (1 - val_share, val_share), ("train", "val"), seed)
                samples = carved + [s for s in samples if s.split != "train"]
                notes.append(f"No val folder: carved {val_share:.0%} of train as validation (seed {seed}).")
            if "test" not in split_dirs:
                notes.append("No test folder: the final evaluation uses the validation split.")
        else:
            samples, ignored, empty = _from_folders(root, {"train": root})
            samples = _stratified(samples, split, SPLITS, seed)
            kind = "class-folders"
            notes.append(f"One folder of classes: split {list(split)} stratified with seed {seed}.")
    classes = tuple(sorted({s.label for s in samples} | {c for _, c in empty}))
    return DatasetLayout(root, kind, classes, tuple(samples), tuple(ignored), tuple(empty), tuple(notes))
