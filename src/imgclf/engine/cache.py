"""The on-disk feature cache: pooled backbone features per image file and view, reused across runs.

Entries are keyed by the file's content hash, the backbone, its weights, the input size, the precision and
the view (0 = clean, 1..K = augmented views). Location: ``$IMGCLF_CACHE_DIR``, else
``$XDG_CACHE_HOME/imgclf``, else ``~/.cache/imgclf``. A cache that cannot be written (read-only, full disk,
not a folder) never stops training: it stops storing and says why in :attr:`FeatureCache.problem`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["FeatureCache", "bytes_hash", "cache_info", "cache_root", "clear_cache", "content_hash"]

_VERSION = "v1"


def cache_root() -> Path:
    """The cache folder chosen from the environment."""
    if os.environ.get("IMGCLF_CACHE_DIR"):
        return Path(os.environ["IMGCLF_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "imgclf"


def bytes_hash(data: bytes) -> str:
    """SHA-256 (hex, 32 chars) of ``data``: the key of an image in the cache and in prediction rows."""
    return hashlib.sha256(data).hexdigest()[:32]


def content_hash(path: Path) -> str:
    """:func:`bytes_hash` of a file's bytes: moving or renaming a file keeps its cache entries."""
    return bytes_hash(Path(path).read_bytes())


class FeatureCache:
    """Features of one (backbone, weights, input size, precision, augmentation, output ``kind``) combination.

    ``kind`` is ``pool`` for pooled features, or the name of the layer whose activations are cached.
    """

    def __init__(
        self,
        root: Path,
        *,
        backbone: str,
        weights_id: str,
        input_size: int,
        precision: str,
        augment: str,
        kind: str = "pool",
    ):
        key = f"{_VERSION}|{backbone}|{weights_id}|{input_size}|{precision}|{augment}|{kind}"
        self.kind = kind
        self.root = Path(root)
        self.problem: str | None = None  # why writing failed; once set, put() stores nothing
        self.name = f"{backbone}-{input_size}-{kind}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        self.folder = Path(root) / "features" / self.name

    def _path(self, digest: str, view: int) -> Path:
        return self.folder / f"view{view}" / digest[:2] / f"{digest}.npy"

    def get(self, digest: str, view: int) -> np.ndarray | None:
        """The cached vector (memory-mapped), or ``None`` when absent or unreadable."""
        path = self._path(digest, view)
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return None

    def put(self, digest: str, view: int, vector: np.ndarray) -> None:
        """Store a vector atomically (float16 on disk); on a write error, record it in ``problem`` and stop."""
        if self.problem is not None:
            return
        path = self._path(digest, view)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp, np.asarray(vector, dtype=np.float16))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self.problem = f"{type(exc).__name__}: {exc.strerror or exc}"


def cache_info(root: Path | None = None) -> list[dict[str, object]]:
    """One row per cached combination: name, entries and bytes on disk."""
    folder = (root or cache_root()) / "features"
    rows = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        files = list(sub.rglob("*.npy"))
        rows.append({"name": sub.name, "entries": len(files), "bytes": sum(f.stat().st_size for f in files)})
    return rows


def clear_cache(root: Path | None = None) -> int:
    """Delete every cached feature; return the bytes freed."""
    freed = sum(int(r["bytes"]) for r in cache_info(root))
    shutil.rmtree((root or cache_root()) / "features", ignore_errors=True)
    return freed
