"""One writer per run folder: a lock file holding the owner's PID, created atomically, stale locks detected.

A new run's ``.partial`` folder is born with its lock inside (made in a private folder, then renamed into
place), so a second ``imgclf train`` into the same ``--out``, or a ``--resume`` while the first still runs,
is refused with a clear message instead of a second writer on the same files.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from imgclf.errors import ImgclfError

__all__ = ["RunLockError", "acquire", "create_locked", "release"]

_LOCK = ".lock"


class RunLockError(ImgclfError):
    """Another live process is writing this run."""


def _owner() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat(timespec="seconds")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(folder: Path) -> dict | None:
    """The live owner recorded in ``folder``'s lock, or ``None`` when there is no lock or it is stale."""
    try:
        owner = json.loads((folder / _LOCK).read_text(encoding="utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a half-written lock: its writer died while writing it
    if host != socket.gethostname():
        return owner  # cannot check a PID on another machine: assume it is alive
    return owner if pid != os.getpid() and _alive(pid) else None


def _refuse(folder: Path, owner: dict) -> RunLockError:
    return RunLockError(
        f"'{folder}' is being written by another imgclf process (PID {owner['pid']} on {owner['host']}, since "
        f"{owner.get('since', '?')}). Wait for it to finish or stop it; if that process is gone, delete "
        f"'{folder / _LOCK}'."
    )


def acquire(folder: Path) -> None:
    """Take the lock of an existing run folder (``--resume``); a stale lock is taken over."""
    owner = _holder(folder)
    if owner is not None:
        raise _refuse(folder, owner)
    tmp = folder / f"{_LOCK}.{os.getpid()}"
    tmp.write_text(json.dumps(_owner()), encoding="utf-8")
    os.replace(tmp, folder / _LOCK)
    if (_holder(folder) or {}).get("pid", os.getpid()) != os.getpid():  # another resumer won the race
        raise _refuse(folder, _holder(folder) or {})


def create_locked(folder: Path) -> None:
    """Create ``folder`` with this process's lock inside, atomically; refuse if it already exists."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir()
    (tmp / _LOCK).write_text(json.dumps(_owner()), encoding="utf-8")
    try:
        os.rename(tmp, folder)
    except OSError as exc:
        (tmp / _LOCK).unlink()
        tmp.rmdir()
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        owner = _holder(folder)
        if owner is not None:
            raise _refuse(folder, owner) from None
        raise ImgclfError(
            f"'{folder}' holds an interrupted run; continue it with --resume, or delete that folder to start over."
        ) from None


def release(folder: Path) -> None:
    """Drop this process's lock (a no-op when the lock is someone else's or gone)."""
    path = folder / _LOCK
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        return
