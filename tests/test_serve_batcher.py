"""The micro-batcher on its own: batches form, rows go back to their requests, failures reach every caller."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from imgclf.serve import MicroBatcher


class Model:
    """A stand-in forward pass: probability row = the image's first pixel; records each batch size."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None):
        self.sizes: list[int] = []
        self.fail = fail
        self.gate = gate

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.gate is not None:
            self.gate.wait(10)
        self.sizes.append(len(pixels))
        if self.fail:
            raise RuntimeError("model exploded")
        first = pixels[:, 0, 0, 0].astype(np.float32)
        return np.stack([first, -first], axis=1), first * 10


def _images(*values: int) -> np.ndarray:
    return np.stack([np.full((2, 2, 3), v, dtype=np.uint8) for v in values])


async def _run(batcher: MicroBatcher, requests: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(r) for r in requests))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    model = Model()
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=200)
    requests = [_images(1, 2), _images(3), _images(4, 5, 6), _images(7)]
    results = asyncio.run(_run(batcher, requests))
    for request, (probs, ood) in zip(requests, results, strict=True):
        first = request[:, 0, 0, 0].astype(np.float32)
        assert np.array_equal(probs[:, 0], first) and np.array_equal(ood, first * 10)
    assert model.sizes == [7]
    assert batcher.stats.to_dict() == {
        "batches": 1,
        "images": 7,
        "requests": 4,
        "mean_batch": 7.0,
        "largest_batch": 7,
        "batch_sizes": {"7": 1},
    }


def test_a_batch_never_exceeds_max_batch_and_requests_are_not_split():
    model = Model()
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=200)
    requests = [_images(1, 2, 3), _images(4, 5), _images(6), _images(7, 8, 9, 10, 11)]
    results = asyncio.run(_run(batcher, requests))
    assert [len(p) for p, _ in results] == [3, 2, 1, 5]
    assert sum(model.sizes) == 11 and max(model.sizes[:-1]) <= 4  # only a request larger than the batch exceeds it
    assert np.array_equal(results[3][1], np.array([70, 80, 90, 100, 110], dtype=np.float32))


def test_a_lone_request_does_not_wait_but_one_on_its_way_is_waited_for():
    model = Model()
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=60_000)  # a budget no test could sit out

    async def scenario():
        await batcher.start()
        alone = await asyncio.wait_for(batcher.submit(_images(9)), 10)  # nothing else coming: runs at once
        with batcher.preparing():  # a second request is being decoded
            first = asyncio.create_task(batcher.submit(_images(1)))
            await asyncio.sleep(0.2)
            assert not first.done()  # its batch waits for the announced one
        second = await asyncio.wait_for(batcher.submit(_images(2)), 10)
        await first
        await batcher.stop()
        return alone, second

    alone, second = asyncio.run(scenario())
    assert model.sizes == [1, 2] and alone[1][0] == 90 and second[1][0] == 20


def test_requests_queued_while_the_model_runs_form_the_next_batch():
    gate = threading.Event()
    model = Model(gate=gate)
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=0)

    async def scenario():
        await batcher.start()
        first = asyncio.create_task(batcher.submit(_images(1)))
        await asyncio.sleep(0.1)  # the first batch is in the model, held by the gate
        rest = [asyncio.create_task(batcher.submit(_images(v))) for v in (2, 3, 4)]
        await asyncio.sleep(0.1)
        waiting = batcher.in_flight
        gate.set()
        await asyncio.gather(first, *rest)
        await batcher.stop()
        return waiting, batcher.in_flight

    assert asyncio.run(scenario()) == (4, 0)
    assert model.sizes == [1, 3]


def test_a_model_failure_reaches_every_request_of_the_batch_and_the_batcher_goes_on():
    model = Model(fail=True)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=100)

    async def scenario():
        await batcher.start()
        outcomes = await asyncio.gather(*(batcher.submit(_images(v)) for v in (1, 2)), return_exceptions=True)
        model.fail = False
        after = await batcher.submit(_images(3))
        await batcher.stop()
        return outcomes, after

    outcomes, after = asyncio.run(scenario())
    assert all(isinstance(o, RuntimeError) and "model exploded" in str(o) for o in outcomes)
    assert after[1][0] == 30


def test_submit_before_start_is_refused():
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(MicroBatcher(Model()).submit(_images(1)))
