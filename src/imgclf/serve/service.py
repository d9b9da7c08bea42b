"""The model behind the API: loaded and warmed in the background, then shared by every request through the batcher.

Responses carry the fields and numbers of ``imgclf predict``: images are decoded by imgclf's one decoding
path and each prediction is built by :meth:`Classifier.prediction` from the batch's rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from imgclf.data.decode import DecodeError
from imgclf.engine.predictor import Classifier, Prediction, Request, load, to_pixels
from imgclf.engine.run import Run
from imgclf.errors import ImgclfError
from imgclf.serve.batcher import BatchFn, MicroBatcher
from imgclf.serve.runtime import load_runtime, runtime_versions
from imgclf.serve.settings import ServeSettings

__all__ = ["Service", "Upload", "summarize_metrics"]

log = logging.getLogger("imgclf.serve")

# one image of a request: its name and its bytes, or why its bytes could not be read (e.g. bad base64)
Upload = tuple[str, bytes | DecodeError]


def summarize_metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The headline figures of a run's evaluation (``imgclf evaluate``), or ``None`` when it was not evaluated."""
    if not metrics:
        return None
    test, threshold = metrics.get("test", {}), metrics.get("threshold", {})
    return {
        "evaluated_on": metrics.get("evaluated_on"),
        "images": test.get("n"),
        "accuracy": test.get("accuracy"),
        "balanced_accuracy": test.get("balanced_accuracy"),
        "f1_macro": test.get("f1_macro"),
        "log_loss": test.get("loss"),
        "ece": metrics.get("calibration", {}).get("ece_after"),
        "threshold": threshold.get("threshold"),
        "coverage_at_threshold": threshold.get("test_coverage"),
        "accuracy_at_threshold": threshold.get("test_accuracy"),
        "ood_auroc": metrics.get("ood", {}).get("auroc"),
    }


class Service:
    """One model, its runtime and its batcher. ``ready`` once loaded and warmed; ``error`` if loading failed."""

    def __init__(self, source: Classifier | Run | str | Path, settings: ServeSettings):
        self.settings = settings
        self.source = source
        self.classifier: Classifier | None = source if isinstance(source, Classifier) else None
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self.error: str | None = None
        self.started = time.time()
        self.load_seconds: float | None = None
        self.metrics: dict[str, Any] | None = None
        self.on_failure: Callable[[], None] | None = None  # called once loading has failed (e.g. stop the server)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Begin loading and warming up in the background (health checks answer meanwhile)."""
        self._task = asyncio.create_task(self._load(), name="imgclf-load")

    def _prepare(self) -> BatchFn:
        """Load the run (unless given a classifier), check it, build the runtime and warm it up (in a thread)."""
        if self.classifier is None:
            # the onnx runtime converts the model: from float32, whatever precision Keras would compute in here
            self.classifier = load(self.source, fastest=None if self.settings.runtime == "keras" else "float32")
        if self.settings.sets is not None:
            self.classifier.policy.require_sets(self.settings.sets)
        if self.classifier.run_dir is not None:
            self.metrics = Run(self.classifier.run_dir).metrics
        fn = load_runtime(self.classifier, self.settings)
        self._warm_up(fn)
        return fn

    async def _load(self) -> None:
        start = time.perf_counter()
        try:
            fn = await anyio.to_thread.run_sync(self._prepare)
        except Exception as exc:  # reported by /healthz and /readyz, and logged once
            self.error = str(exc) if isinstance(exc, ImgclfError) else f"{type(exc).__name__}: {exc}"
            log.error("loading the model failed: %s", self.error)
            if self.on_failure is not None:
                self.on_failure()
            return
        self.batcher = MicroBatcher(fn, max_batch=self.settings.max_batch, max_wait_ms=self.settings.max_wait_ms)
        await self.batcher.start()
        self.load_seconds = time.perf_counter() - start
        self.ready = True
        log.info("model ready in %.1f s (%s runtime)", self.load_seconds, self.settings.runtime)

    def _warm_up(self, fn: BatchFn) -> None:
        """Trace the forward pass for one image and for a full batch, so no request pays for it."""
        assert self.classifier is not None
        size = self.classifier.input_size
        for n in sorted({1, self.settings.max_batch}):
            fn(np.zeros((n, size, size, 3), dtype=np.uint8))

    async def stop(self) -> None:
        """Stop loading (if still running) and the batcher."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.batcher is not None:
            await self.batcher.stop()

    def _decode(self, uploads: Sequence[Upload]) -> list[np.ndarray | DecodeError]:
        assert self.classifier is not None
        out: list[np.ndarray | DecodeError] = []
        for name, data in uploads:
            if isinstance(data, DecodeError):
                out.append(data)
                continue
            try:
                out.append(to_pixels(data, self.classifier.input_size, max_pixels=self.settings.max_pixels, name=name))
            except DecodeError as exc:
                out.append(exc)
        return out

    async def predict(self, uploads: Sequence[Upload]) -> list[Prediction]:
        """One prediction per upload, in order; an undecodable one gets status ``error``."""
        assert self.classifier is not None and self.batcher is not None
        with self.batcher.preparing():
            decoded = await anyio.to_thread.run_sync(self._decode, uploads)
        good = [i for i, px in enumerate(decoded) if not isinstance(px, DecodeError)]
        rows: dict[int, tuple[np.ndarray, float]] = {}
        if good:
            probs, ood = await self.batcher.submit(np.stack([decoded[i] for i in good]))
            rows = {i: (p, o) for i, p, o in zip(good, probs, ood, strict=True)}
        s = self.settings
        request = Request(min(s.top_k, len(self.classifier.classes)), s.threshold, s.sets)
        empty_set = None if s.sets is None else ()
        predictions = []
        for i, ((name, _), px) in enumerate(zip(uploads, decoded, strict=True)):
            if isinstance(px, DecodeError):
                predictions.append(Prediction.failed(name, px, prediction_set=empty_set))
            else:
                predictions.append(self.classifier.prediction(name, *rows[i], request))
        return predictions

    def versions(self) -> dict[str, str]:
        """Library versions that shape the predictions."""
        return runtime_versions(self.settings.runtime)
