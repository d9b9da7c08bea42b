"""Dynamic micro-batching: concurrent requests share one forward pass.

Requests put their decoded pixels on a queue; one worker takes what is waiting (up to ``max_batch`` images),
waits at most ``max_wait_ms`` for more when the batch is not full and another request is on its way (being
decoded, see :meth:`MicroBatcher.preparing`), runs the model in its own thread (the event loop keeps serving),
and hands each request its rows. While the model runs, new requests queue up, so under load batches fill
without waiting; a lone request never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["BatchFn", "BatchStats", "MicroBatcher"]

# pixels (n, h, w, 3) uint8 -> (calibrated probabilities (n, classes), OOD scores (n,))
BatchFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass
class BatchStats:
    """What the batcher has done so far."""

    batches: int = 0
    images: int = 0
    requests: int = 0
    largest: int = 0
    sizes: Counter = dataclasses.field(default_factory=Counter)  # images per forward pass -> how often

    def record(self, images: int, requests: int) -> None:
        """Count one forward pass of ``images`` images gathered from ``requests`` requests."""
        self.batches += 1
        self.images += images
        self.requests += requests
        self.largest = max(self.largest, images)
        self.sizes[images] += 1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures: counts, mean and largest batch, and the batch-size histogram."""
        mean = self.images / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "images": self.images,
            "requests": self.requests,
            "mean_batch": round(mean, 3),
            "largest_batch": self.largest,
            "batch_sizes": {str(k): v for k, v in sorted(self.sizes.items())},
        }


@dataclasses.dataclass
class _Job:
    pixels: np.ndarray
    future: asyncio.Future


class MicroBatcher:
    """Gathers requests into batches for ``fn``, which runs in one dedicated thread, one batch at a time."""

    def __init__(self, fn: BatchFn, *, max_batch: int = 32, max_wait_ms: float = 2.0):
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._carry: _Job | None = None  # a job that did not fit the previous batch
        self._worker: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imgclf-model")
        self.in_flight = 0  # requests submitted and not yet answered
        self._preparing = 0  # requests on their way (being decoded)

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="imgclf-batcher")

    async def stop(self) -> None:
        """Stop the worker; jobs still queued fail with ``RuntimeError``."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for job in pending:
            if not job.future.done():
                job.future.set_exception(RuntimeError("The server is shutting down."))
        self._thread.shutdown(wait=True)

    @contextlib.contextmanager
    def preparing(self) -> Iterator[None]:
        """Announce a request that is being prepared (decoded): a batch that is not full waits for it."""
        self._preparing += 1
        try:
            yield
        finally:
            self._preparing -= 1

    async def submit(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and OOD scores for ``pixels`` (one request's images), computed in a shared batch."""
        if self._queue is None or self._worker is None or self._worker.done():
            raise RuntimeError("The batcher is not running.")
        future = asyncio.get_running_loop().create_future()
        self.in_flight += 1
        try:
            await self._queue.put(_Job(pixels, future))
            return await future
        finally:
            self.in_flight -= 1

    async def _next(self, timeout: float | None) -> _Job | None:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        assert self._queue is not None
        if timeout is None:
            return await self._queue.get()
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _gather(self) -> list[_Job]:
        """One batch: the first job, whatever else waits, and what arrives within the wait budget."""
        jobs = [await self._next(None)]
        assert self._queue is not None
        size = len(jobs[0].pixels)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while size < self.max_batch:
            if self._carry is None and self._queue.empty() and not self._preparing:
                break  # nothing queued and nothing on its way: waiting would only add latency
            job = await self._next(deadline - asyncio.get_running_loop().time())
            if job is None:
                break
            if size + len(job.pixels) > self.max_batch:
                self._carry = job
                break
            jobs.append(job)
            size += len(job.pixels)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [job for job in await self._gather() if not job.future.done()]  # done: the client went away
            if not jobs:
                continue
            pixels = np.concatenate([job.pixels for job in jobs]) if len(jobs) > 1 else jobs[0].pixels
            try:
                probs, ood = await loop.run_in_executor(self._thread, self.fn, pixels)
            except Exception as exc:  # the model failed: every request of the batch gets the error
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.stats.record(len(pixels), len(jobs))
            start = 0
            for job in jobs:
                end = start + len(job.pixels)
                if not job.future.done():
                    job.future.set_result((probs[start:end], ood[start:end]))
                start = end
