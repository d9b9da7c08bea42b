"""Batch prediction on the local machine or on a Ray cluster, streaming rows into a sink.

The Ray job is ``from_items(paths) -> read tasks (bytes, content hash) -> a pool of actors``, each actor
holding one :class:`~imgclf.engine.predictor.Classifier` loaded from the run's files, which reach it as
bytes (the run folder need not be on shared storage). Actors and the local engine make rows with the same
:func:`~imgclf.scale.rows.predict_rows`, so both engines write the same numbers.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from imgclf.engine.run import Run
from imgclf.scale.cluster import READ_CPUS, RayOptions, actor_cpus, block_count, configure_tensorflow, ray_session
from imgclf.scale.rows import PredictOptions, columns, predict_rows
from imgclf.scale.sources import Fetched, fetch

if TYPE_CHECKING:  # the predictor imports Keras: only the actors load it, not the driver or the read tasks
    from imgclf.engine.predictor import Classifier

__all__ = ["PredictActor", "predict_local", "predict_on_ray", "read_batch"]

RowsCallback = Callable[[list[dict[str, object]]], None]
LOCAL_CHUNK = 256  # images read, predicted and written at a time by the local engine


def predict_local(clf: Classifier, paths: Sequence[str], options: PredictOptions, write: RowsCallback) -> None:
    """Predict ``paths`` in this process, ``LOCAL_CHUNK`` images at a time, passing each chunk's rows to ``write``."""
    for start in range(0, len(paths), LOCAL_CHUNK):
        write(predict_rows(clf, fetch(paths[start : start + LOCAL_CHUNK]), options))


def read_batch(batch):
    """Read task: the ``path`` column's bytes, content hash and read error as ``data``, ``digest``, ``error``."""
    items = fetch([str(p) for p in batch["path"]])
    batch = batch.copy()
    batch["data"] = [i.data for i in items]
    batch["digest"] = [i.digest for i in items]
    batch["error"] = [i.error or "" for i in items]
    return batch


class PredictActor:
    """One classifier per Ray actor, loaded once from the run's files; a callable over batches of read rows."""

    def __init__(self, files: list, options: PredictOptions, cpus: float):
        import ray

        from imgclf.engine.predictor import load

        configure_tensorflow(cpus)
        self._folder = tempfile.TemporaryDirectory(prefix="imgclf-run-")
        self.clf = load(Run.unpack(self._folder.name, ray.get(files[0])))
        self.options = options

    def __call__(self, batch):
        import pandas as pd

        items = [
            Fetched(str(p), d if error == "" else None, str(h), error or None)
            for p, d, h, error in zip(batch["path"], batch["data"], batch["digest"], batch["error"], strict=True)
        ]
        fields = list(columns(self.options.sets is not None))
        return pd.DataFrame(predict_rows(self.clf, items, self.options), columns=fields)


def _records(frame) -> list[dict[str, object]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def predict_on_ray(
    run_dir: str | Path,
    paths: Sequence[str],
    options: PredictOptions,
    ray_options: RayOptions,
    write: RowsCallback,
) -> None:
    """Predict ``paths`` on Ray (a pool of actors), passing rows to ``write`` on the driver as they arrive."""
    files = Run.open(run_dir).pack()
    with ray_session(ray_options):
        import ray

        cpus, note = actor_cpus(ray_options, ray.cluster_resources().get("CPU", 1.0))
        if note:
            print(f"note: {note}", file=sys.stderr)
        blocks = block_count(len(paths), ray_options)
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
        ds = ds.map_batches(read_batch, batch_format="pandas", num_cpus=READ_CPUS)
        ds = ds.map_batches(
            PredictActor,
            fn_constructor_kwargs={"files": [ray.put(files)], "options": options, "cpus": ray_options.cpus_per_actor},
            batch_size=ray_options.batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(min_size=ray_options.actors[0], max_size=ray_options.actors[1]),
            num_cpus=cpus,
            num_gpus=ray_options.gpus_per_actor or None,
        )
        for frame in ds.iter_batches(batch_format="pandas", batch_size=None):
            write(_records(frame))
