"""Where images come from: files, folders, globs, text files of paths, and object-store URIs.

``s3://``, ``gs://`` and other URIs go through pyarrow filesystems (credentials from the usual environment:
``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``...). Reading never raises for one bad file: a missing or
unreadable file becomes a :class:`Fetched` with an ``error``, so a job of a million images never fails on one.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from imgclf.data.decode import IMAGE_EXTENSIONS, DecodeError, read_source
from imgclf.data.layout import image_files
from imgclf.engine.cache import bytes_hash
from imgclf.errors import ImgclfError

__all__ = ["Fetched", "SourceError", "fetch", "is_uri", "resolve_sources"]

LIST_SUFFIXES = frozenset({".txt", ".lst"})


class SourceError(ImgclfError, ValueError):
    """A SOURCE argument names nothing usable (an empty glob, an unreachable bucket...)."""


@dataclasses.dataclass(frozen=True)
class Fetched:
    """One image's bytes and content hash, or why it could not be read."""

    path: str
    data: bytes | None
    digest: str
    error: str | None = None


def is_uri(source: str) -> bool:
    """True for ``scheme://...`` sources (``s3://``, ``gs://``, ``file://``...), read through pyarrow."""
    return "://" in source


def _filesystem(uri: str):
    import pyarrow as pa
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(f"Cannot open '{uri}': {exc}. Check the URI and the storage credentials.") from exc


def _list_uri(uri: str) -> list[str]:
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    scheme = uri.split("://", 1)[0]
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.File:
        return [uri]
    if info.type != fs.FileType.Directory:
        raise SourceError(f"'{uri}' does not exist; pass an existing object, folder or bucket prefix.")
    found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    keep = [
        i.path
        for i in found
        if i.type == fs.FileType.File
        and PurePosixPath(i.path).suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in PurePosixPath(i.path).relative_to(path).parts)
    ]
    return [f"{scheme}://{p}" for p in sorted(keep)]


def _read_list(path: Path) -> list[str]:
    """One path or URI per line (blank lines and ``#`` comments skipped; relative paths from the list's folder)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            out.append(entry if is_uri(entry) or Path(entry).is_absolute() else str(path.parent / entry))
    return out


def _expand(source: str) -> list[str]:
    path = Path(source).expanduser()
    if is_uri(source):
        return _list_uri(source)
    if path.is_dir():
        return [str(p) for p in image_files([path])]
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    if glob.has_magic(source) and not path.exists():
        matches = sorted(m for m in glob.glob(os.path.expanduser(source), recursive=True) if Path(m).is_file())
        if not matches:
            raise SourceError(f"'{source}' matches no file; check the pattern (quote it so the shell leaves it).")
        return matches
    return [source]  # a file; a missing one becomes an error row, not a failed job


def resolve_sources(sources: Iterable[str | Path]) -> list[str]:
    """Every image named by ``sources``, in order, each once: files as given, the images under folders and
    bucket prefixes, glob matches, and the lines of ``.txt`` / ``.lst`` files."""
    return list(dict.fromkeys(p for source in sources for p in _expand(str(source))))


def _read_uri(uri: str, filesystems: dict) -> bytes:
    """Read one object; ``filesystems`` keeps one pyarrow filesystem per scheme and bucket."""
    scheme, rest = uri.split("://", 1)
    key = f"{scheme}://{rest.split('/', 1)[0]}"
    try:
        if key not in filesystems:
            filesystems[key] = _filesystem(uri)[0]
        with filesystems[key].open_input_stream(rest) as stream:
            return stream.readall()
    except (OSError, SourceError) as exc:
        raise DecodeError(f"Cannot read '{uri}': {exc}.") from exc


def fetch(paths: Sequence[str]) -> list[Fetched]:
    """The bytes and content hash of each of ``paths`` (files or URIs); a failure is recorded, never raised."""
    filesystems: dict = {}
    out = []
    for path in paths:
        try:
            data = _read_uri(path, filesystems) if is_uri(path) else read_source(path)
        except DecodeError as exc:
            out.append(Fetched(path, None, "", str(exc)))
            continue
        out.append(Fetched(path, data, bytes_hash(data)))
    return out
