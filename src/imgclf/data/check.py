"""Dataset health check: decode every file once and report what would make training unsafe or misleading.

Errors (training unsafe or file unusable): unreadable / zero-byte / non-image / corrupt / oversized files,
cross-split leakage, one image filed under two classes, empty classes, fewer than 2 classes, a train class
with fewer than 2 usable images.
Warnings: duplicates within a class and split, near-duplicates across splits, tiny images, extensions that lie
about the content, classes missing from a split, imbalance, and images unlike the rest of their class.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from imgclf.data.decode import DEFAULT_MAX_PIXELS, DecodeError, open_image, read_header
from imgclf.data.layout import SPLITS, DatasetLayout, Sample, discover
from imgclf.data.report import ERROR, WARNING, DatasetReport, Issue, display_path

__all__ = ["DatasetReport", "Issue", "check_dataset"]

_EXTENSION_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP",
    ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
}  # fmt: skip
_THUMB = 256  # decode side used for hashing and colour counts (JPEG draft mode keeps it fast)
_COLOUR_SAMPLE = 64  # colours are counted on a 64x64 nearest-neighbour sample (no invented colours)
_GRAPHIC_COLOURS = 64  # fewer distinct colours than this reads as a graphic, not a photo
_PHASH_SIDE, _PHASH_BITS = 32, 8  # perceptual hash: DCT of a 32x32 grey image, its 8x8 lowest frequencies
_RARE_FORMAT_SHARE = 0.05  # a format held by one image or at most this share of a class (>= 10 images) is unusual
_IMBALANCE_WARNING = 3.0
MAX_FILE_BYTES = 128 * 1024**2  # larger files are reported, never read: memory stays bounded (8 files at a time)


@dataclasses.dataclass(frozen=True)
class _FileInfo:
    """What decoding one file revealed (``problem`` is one of UNUSABLE_KINDS, or "" when usable)."""

    path: Path
    fmt: str | None = None
    size: tuple[int, int] = (0, 0)
    sha256: str = ""
    phash: int | None = None
    colours: int = 0
    problem: str = ""
    reason: str = ""


def _dct_matrix(n: int) -> np.ndarray:
    """The unnormalised DCT-II as a matrix (what ``scipy.fftpack.dct`` computes along one axis)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT = _dct_matrix(_PHASH_SIDE)


def _phash(img: Image.Image) -> int:
    """The 64-bit perceptual hash of ``img``, bit for bit ``imagehash.phash`` (without importing SciPy)."""
    grey = img.convert("L").resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS)
    low = (_DCT @ np.asarray(grey, dtype=np.float64) @ _DCT.T)[:_PHASH_BITS, :_PHASH_BITS]
    return int.from_bytes(np.packbits(low > np.median(low)).tobytes(), "big")


def _read_capped(path: Path) -> tuple[int, bytes]:
    """The file's size and its bytes; no bytes for a file over :data:`MAX_FILE_BYTES`, which is never read."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_FILE_BYTES:
            return size, b""
        data = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since: still never more than the limit
        return len(data), data


def _inspect(path: Path, max_pixels: int) -> _FileInfo:
    """Read (at most :data:`MAX_FILE_BYTES`), hash and decode ``path`` once with the shared decoder."""
    try:
        nbytes, data = _read_capped(path)
    except OSError as exc:
        return _FileInfo(path, problem="unreadable", reason=exc.strerror or str(exc))
    if nbytes > MAX_FILE_BYTES:
        reason = f"{nbytes:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes a file"
        return _FileInfo(path, problem="file-too-large", reason=reason)
    if not data:
        return _FileInfo(path, problem="zero-byte")
    digest = hashlib.sha256(data).hexdigest()
    try:
        fmt, size = read_header(data)
    except UnidentifiedImageError:
        return _FileInfo(path, sha256=digest, problem="not-image")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return _FileInfo(path, sha256=digest, problem="corrupt", reason=str(exc))
    if size[0] * size[1] > max_pixels:  # refused before any pixel is read
        return _FileInfo(path, fmt, size, digest, problem="too-large")
    try:
        img = open_image(data, max_pixels=max_pixels, draft_size=_THUMB)
    except DecodeError as exc:
        return _FileInfo(path, fmt, size, digest, problem="corrupt", reason=str(exc.__cause__ or exc))
    sample = img.resize((_COLOUR_SAMPLE, _COLOUR_SAMPLE), Image.Resampling.NEAREST)
    colours = len(sample.getcolors(_COLOUR_SAMPLE**2) or ())
    return _FileInfo(path, fmt, size, digest, _phash(img), colours)


def _inspect_all(paths: Iterable[Path], max_pixels: int) -> dict[Path, _FileInfo]:
    unique = sorted(set(paths))
    workers = min(8, (os.cpu_count() or 1) + 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(unique, pool.map(partial(_inspect, max_pixels=max_pixels), unique), strict=True))


_UNUSABLE_ADVICE = {
    "unreadable": "cannot be read ({reason}); fix its permissions or path, or remove it",
    "zero-byte": "is empty (0 bytes); replace it with the real image or delete it",
    "not-image": "is not an image whatever its extension; move it out of the dataset",
    "corrupt": "is damaged or truncated ({reason}); re-download or re-export it, or delete it",
    "too-large": "is {w}x{h} pixels ({mpx}), over the {cap} limit; downscale it (or train with --set max_pixels=N "
    "if you trust the file)",
    "file-too-large": "is too large to read ({reason}); recompress or downscale it, or remove it",
}


def _megapixels(pixels: int) -> str:
    """``900 Mpx``, ``89 Mpx``, ``2.5 Mpx``."""
    value = pixels / 1e6
    return f"{value:,.0f} Mpx" if value >= 10 else f"{value:.2g} Mpx"


def _file_issues(infos: Iterable[_FileInfo], rel: Callable[[Path], str], min_side: int, cap: int) -> list[Issue]:
    """Per-file problems: unusable files, extensions that lie, tiny images."""
    issues = []
    for info in infos:
        name = rel(info.path)
        if info.problem:
            w, h = info.size
            advice = _UNUSABLE_ADVICE[info.problem].format(
                reason=info.reason, w=w, h=h, mpx=_megapixels(w * h), cap=_megapixels(cap)
            )
            issues.append(Issue(info.problem, ERROR, (info.path,), f"{name} {advice}. It is skipped in training."))
            continue
        if _EXTENSION_FORMATS.get(info.path.suffix.lower()) != info.fmt:
            message = f"{name} has {info.path.suffix or 'no extension'} but holds {info.fmt} data; rename it to match."
            issues.append(Issue("extension-mismatch", WARNING, (info.path,), message))
        if min(info.size) < min_side:
            message = (
                f"{name} is only {info.size[0]}x{info.size[1]} (< {min_side} px a side); replace it with a larger "
                "image or remove it."
            )
            issues.append(Issue("tiny", WARNING, (info.path,), message))
    return issues


def _duplicate_issues(
    samples: Sequence[Sample], infos: Mapping[Path, _FileInfo], rel: Callable[[Path], str]
) -> list[Issue]:
    """Identical content (SHA-256): under two classes (label conflict, error), in two splits (leakage, error),
    twice in one class and split (duplicate, warning)."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        if infos[s.path].sha256 and not infos[s.path].problem:
            groups[infos[s.path].sha256].append(s)
    issues = []
    for group in (g for g in groups.values() if len(g) > 1):
        paths = tuple(s.path for s in group)
        names = ", ".join(f"{rel(s.path)} [{s.split}/{s.label}]" for s in group)
        labels = sorted({s.label for s in group})
        splits = sorted({s.split for s in group}, key=SPLITS.index)
        if len(labels) > 1:
            message = (
                f"The same image is filed under {len(labels)} classes ({', '.join(labels)}): {names}. "
                "Decide which class it shows and delete the other copies."
            )
            issues.append(Issue("label-conflict", ERROR, paths, message))
        if len(splits) > 1:
            message = f"The same image is in the {' and '.join(splits)} splits: {names}. Keep one copy in one split."
            issues.append(Issue("leakage", ERROR, paths, message))
        if len(labels) == 1 and len(splits) == 1:
            message = f"Identical files: {names}. Delete the extra copies (they double-count in training)."
            issues.append(Issue("duplicate", WARNING, paths, message))
    return issues


def _near_duplicate_issues(
    samples: Sequence[Sample], infos: Mapping[Path, _FileInfo], rel: Callable[[Path], str], distance: int
) -> list[Issue]:
    """Pairs across splits whose perceptual hashes differ in at most ``distance`` bits (exact copies excluded)."""
    hashed = [s for s in samples if infos[s.path].phash is not None]
    train = [s for s in hashed if s.split == "train"]
    others = [s for s in hashed if s.split != "train"]
    if not train or not others or distance < 0:
        return []
    train_hashes = np.array([infos[s.path].phash for s in train], dtype=np.uint64)
    issues = []
    for other in others:
        info = infos[other.path]
        bits = np.bitwise_count(train_hashes ^ np.uint64(info.phash))
        for i in np.flatnonzero(bits <= distance):
            match = train[int(i)]
            if infos[match.path].sha256 == info.sha256:
                continue
            message = (
                f"{rel(other.path)} [{other.split}] looks almost the same as {rel(match.path)} [train] "
                f"(perceptual hash distance {int(bits[i])}); if they show the same shot, keep only one."
            )
            issues.append(Issue("near-duplicate", WARNING, (match.path, other.path), message))
    return issues


def _outlier_issues(
    samples: Sequence[Sample], infos: Mapping[Path, _FileInfo], rel: Callable[[Path], str]
) -> list[Issue]:
    """Images unlike their class: a format rare in the class, or a graphic with very few colours."""
    by_class: dict[str, list[_FileInfo]] = defaultdict(list)
    for s in samples:
        if not infos[s.path].problem:
            by_class[s.label].append(infos[s.path])
    issues = []
    for label, members in sorted(by_class.items()):
        formats = Counter(m.fmt for m in members)
        main_format = formats.most_common(1)[0][0]
        typical_colours = float(np.median([m.colours for m in members]))
        for m in members:
            reasons = []
            if (
                len(members) >= 10
                and m.fmt != main_format
                and formats[m.fmt] <= max(1.0, _RARE_FORMAT_SHARE * len(members))
            ):
                share = "the only" if formats[m.fmt] == 1 else f"one of only {formats[m.fmt]}"
                reasons.append(f"it is {share} {m.fmt} among {len(members)} images (mostly {main_format})")
            if m.colours < _GRAPHIC_COLOURS <= typical_colours / 4:
                reasons.append(f"it has only {m.colours} distinct colours (class median {typical_colours:.0f})")
            if reasons:
                message = (
                    f"{rel(m.path)} is unlike the rest of '{label}': {'; '.join(reasons)}. It may be a placeholder "
                    "or graphic; open it and remove it if it does not show the class."
                )
                issues.append(Issue("outlier", WARNING, (m.path,), message))
    return issues


def _class_issues(layout: DatasetLayout, counts: Mapping[str, Mapping[str, int]]) -> list[Issue]:
    """Empty class folders, too few classes or images, classes missing from a split, imbalance."""
    train = counts.get("train", {})
    issues = []
    for split, label in layout.empty_classes:
        severity = ERROR if train.get(label, 0) == 0 else WARNING
        message = f"Class folder {split}/{label}/ is empty; add images of '{label}' or delete the folder."
        issues.append(Issue("empty-class", severity, (layout.root / split / label,), message))
    if len(layout.classes) < 2:
        message = (
            f"Found {len(layout.classes)} class(es) {list(layout.classes)}; a classifier needs at least 2, "
            "each in its own folder of images."
        )
        issues.append(Issue("too-few-classes", ERROR, (), message))
    empty_train = {label for split, label in layout.empty_classes if split == "train"}
    for label in layout.classes:
        if train.get(label, 0) < 2 and label not in empty_train:
            message = (
                f"Class '{label}' has {train.get(label, 0)} usable training image(s); add at least 2 (ideally 20+)."
            )
            issues.append(Issue("too-few-images", ERROR, (), message))
    for split in layout.splits[1:]:
        for label in layout.classes:
            if train.get(label, 0) and not counts[split].get(label, 0) and (split, label) not in layout.empty_classes:
                message = f"Class '{label}' has no usable images in {split}; add some so it can be measured."
                issues.append(Issue("missing-class", WARNING, (), message))
    present = [n for n in train.values() if n > 0]
    if len(present) >= 2 and max(present) / min(present) > _IMBALANCE_WARNING:
        message = (
            f"Train classes are imbalanced ({max(present)} vs {min(present)} images); add images to the small "
            "classes, or keep class_weights: auto so training compensates."
        )
        issues.append(Issue("imbalance", WARNING, (), message))
    return issues


def check_dataset(
    data: str | Path,
    *,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    min_side: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    near_dup_distance: int = 6,
    runs: str | Path | None = None,
) -> DatasetReport:
    """Check the dataset at ``data`` (any layout :func:`~imgclf.data.layout.discover` accepts).

    Every file is decoded once (in a thread pool) with the shared decoder. ``near_dup_distance`` is the most
    perceptual-hash bits in which a val/test image may differ from a train image to count as a near-duplicate
    (negative disables the search). Review corrections apply (``runs``: where a read-only dataset's are kept).
    """
    layout = discover(data, split=split, seed=seed, runs=runs)
    infos = _inspect_all((s.path for s in layout.samples), max_pixels)
    rel = partial(display_path, root=layout.root)
    counts: dict[str, dict[str, int]] = {s: dict.fromkeys(layout.classes, 0) for s in layout.splits}
    for s in layout.samples:
        if not infos[s.path].problem:
            counts[s.split][s.label] += 1
    formats = Counter(i.fmt for i in infos.values() if i.fmt and not i.problem)
    issues = [
        *_class_issues(layout, counts),
        *_file_issues(infos.values(), rel, min_side, max_pixels),
        *_duplicate_issues(layout.samples, infos, rel),
        *_near_duplicate_issues(layout.samples, infos, rel, near_dup_distance),
        *_outlier_issues(layout.samples, infos, rel),
    ]
    issues.sort(key=lambda i: i.severity != ERROR)
    notes = list(layout.notes)
    if layout.ignored:
        notes.append(f"Ignored {len(layout.ignored)} hidden/system or stray file(s), e.g. {rel(layout.ignored[0])}.")
    return DatasetReport(layout, counts, dict(formats.most_common()), tuple(issues), tuple(notes))
