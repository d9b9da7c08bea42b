"""Uploaded dataset zips, extracted safely: no absolute paths, no '..', no links, a size and file-count cap.

Each upload lives in its own temporary folder owned by an :class:`UploadedZip`; the folder is deleted when
the object is dropped (the user's session ends, or a new zip replaces it), when the app exits, or at once
when the zip is refused.
"""

from __future__ import annotations

import io
import shutil
import stat
import tempfile
import weakref
import zipfile
from pathlib import Path, PurePosixPath

from imgclf.errors import ImgclfError

__all__ = ["MAX_EXTRACTED_BYTES", "MAX_MEMBERS", "ArchiveError", "UploadedZip", "extract_zip"]

MAX_EXTRACTED_BYTES = 2 * 1024**3
MAX_MEMBERS = 100_000
_SKIPPED_TOP = {"__MACOSX"}


class ArchiveError(ImgclfError, ValueError):
    """An uploaded zip is unreadable, unsafe or too large."""


def _safe_parts(name: str) -> tuple[str, ...]:
    """The member's path parts, or raise when it would land outside the destination."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if clean.startswith("/") or any(p in ("..", "") or ":" in p for p in parts):
        raise ArchiveError(f"The zip entry '{name}' points outside the archive folder; rebuild the zip without it.")
    return parts


def _copy_capped(source, target: Path, budget: int) -> int:
    """Copy at most ``budget`` bytes (sizes in the zip header can lie); return the bytes written."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > budget:
                raise ArchiveError(f"The zip expands to more than {MAX_EXTRACTED_BYTES:,} bytes; upload a smaller one.")
            out.write(chunk)
    return written


def _dataset_root(dest: Path) -> Path:
    """``dest``, or its single top folder when the zip wrapped everything in one."""
    children = [c for c in dest.iterdir() if not c.name.startswith(".")]
    return children[0] if len(children) == 1 and children[0].is_dir() else dest


def extract_zip(data: bytes, dest: Path) -> Path:
    """Extract the zip ``data`` into the empty folder ``dest``; return the dataset folder inside it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"The upload is not a valid zip file ({exc}); zip the dataset folder again.") from exc
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_MEMBERS:
                raise ArchiveError(f"The zip holds {len(members):,} files, over the limit of {MAX_MEMBERS:,}.")
            budget = MAX_EXTRACTED_BYTES
            for member in members:
                parts = _safe_parts(member.filename)
                if parts[0] in _SKIPPED_TOP or stat.S_ISLNK(member.external_attr >> 16):
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source:
                    budget -= _copy_capped(source, target, budget)
    except (ArchiveError, zipfile.BadZipFile, OSError, RuntimeError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, ArchiveError):
            raise
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)  # never the server's paths
        raise ArchiveError(f"The zip could not be extracted ({reason}); zip the dataset folder again.") from exc
    return _dataset_root(dest)


class UploadedZip:
    """An uploaded zip extracted into a temporary folder that is removed with this object (or by :meth:`remove`)."""

    def __init__(self, name: str, upload_id: str, data: bytes) -> None:
        """Extract ``data`` (the zip called ``name``); raise :class:`ArchiveError`, leaving nothing, when refused."""
        self.name, self.upload_id = name, upload_id
        self.folder = Path(tempfile.mkdtemp(prefix="imgclf-upload-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        try:
            self.root = extract_zip(data, self.folder / "data")
        except ArchiveError:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the extracted files now (idempotent)."""
        self._cleanup()
