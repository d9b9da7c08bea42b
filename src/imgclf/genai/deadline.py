"""One wall-clock deadline per analysis, enforced across its model calls, the SDKs' retries and slow streams.

The SDKs' own timeouts bound each network read, not a whole answer: a server that sends a keep-alive byte
every second never trips them. So each call runs in a worker thread that feeds its results through a queue,
and the caller stops waiting when the analysis' deadline passes. The abandoned call's HTTP client is closed
at once, which ends the worker at the server's next byte or at its own read timeout (capped near the deadline).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

__all__ = ["GRACE_S", "Call", "Closeable", "Deadline", "DeadlineExceeded", "bounded"]

T = TypeVar("T")
# How far past the deadline an abandoned call's own timeouts may run, so the deadline always fires first.
GRACE_S = 1.0


@dataclasses.dataclass(frozen=True)
class Deadline:
    """The end of one analysis: ``seconds`` long, ending at ``ends`` on the ``time.monotonic`` clock."""

    seconds: float
    ends: float

    @classmethod
    def start(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.ends - time.monotonic())

    def cap(self, timeout_s: float) -> float:
        """``timeout_s`` for one network wait, shortened to end just after the deadline."""
        return min(timeout_s, self.remaining() + GRACE_S)


@dataclasses.dataclass(frozen=True)
class Call:
    """One model call of an analysis: the ``part`` it serves (named in messages) under the shared ``deadline``."""

    part: str
    deadline: Deadline


class DeadlineExceeded(TimeoutError):
    """The analysis' deadline passed while ``call`` was waiting, ``waited_s`` seconds into it (None: unknown)."""

    def __init__(self, call: Call, waited_s: float | None = None):
        super().__init__(f"{call.part}: the deadline of {call.deadline.seconds:g} s passed")
        self.call = call
        self.waited_s = waited_s


class Closeable(Protocol):
    """An SDK client: closing it makes its pending requests fail."""

    def close(self) -> None:
        """Close the client and its connections."""
        ...


C = TypeVar("C", bound=Closeable)
_DONE = object()


def _work(client: C, ask: Callable[[C], Iterator[T]], out: queue.SimpleQueue, stop: threading.Event) -> None:
    """Put each item of ``ask(client)`` on ``out``, then ``_DONE`` or the exception that ended it; close ``client``."""
    try:
        for item in ask(client):
            out.put((item, None))
            if stop.is_set():
                return
        out.put((_DONE, None))
    except BaseException as exc:  # handed to the waiting caller, which raises it
        out.put((_DONE, exc))
    finally:
        client.close()


def bounded(call: Call, client: C, ask: Callable[[C], Iterator[T]]) -> Iterator[T]:
    """The items of ``ask(client)``, run in a worker thread, until ``call``'s deadline.

    When the deadline passes first, ``client`` is closed (abandoning the call) and :class:`DeadlineExceeded`
    is raised. The worker's exceptions are raised here, in the caller's thread. A caller that stops early
    abandons the call too. ``client`` is closed in every case.
    """
    started = time.monotonic()
    if call.deadline.remaining() <= 0:
        client.close()
        raise DeadlineExceeded(call, 0.0)
    out: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    worker = threading.Thread(
        target=_work, args=(client, ask, out, stop), name=f"imgclf-genai {call.part}", daemon=True
    )
    worker.start()
    finished = False
    try:
        while True:
            try:
                item, error = out.get(timeout=call.deadline.remaining())
            except queue.Empty:
                raise DeadlineExceeded(call, time.monotonic() - started) from None
            if error is not None:
                finished = True
                raise error
            if item is _DONE:
                finished = True
                return
            yield item
    finally:
        if not finished:
            stop.set()
            client.close()
