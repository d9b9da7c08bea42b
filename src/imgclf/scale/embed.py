"""Feature extraction into the feature cache, locally or on a Ray cluster, so a later ``train`` starts warm.

The driver checks the dataset, builds the seeded classifier exactly as ``imgclf train`` would, and lists the
cache entries (image content x view) that are missing. On Ray, the classifier reaches each actor as the bytes
of a ``.keras`` file; actors decode with imgclf's decoder, augment the views after the first, and run the same
forward function as the trainer (:func:`~imgclf.engine.cached.feature_forward`); the driver writes the
results into the cache under the same keys.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from imgclf.config import Config
from imgclf.data.decode import DecodeError, decode_image
from imgclf.engine.augment import build_augmenter
from imgclf.engine.cache import FeatureCache, content_hash
from imgclf.engine.cached import cached_inputs, feature_caches, feature_forward
from imgclf.engine.features import missing_entries
from imgclf.engine.progress import ProgressCallback
from imgclf.engine.run import Run
from imgclf.engine.trainer import Prepared, prepare
from imgclf.models.build import backbone_of
from imgclf.models.registry import get_backbone
from imgclf.scale.cluster import (
    READ_CPUS,
    RayOptions,
    ScaleError,
    actor_cpus,
    block_count,
    configure_tensorflow,
    ray_session,
)
from imgclf.scale.predict import read_batch

__all__ = ["EmbedActor", "EmbedSummary", "embed_dataset", "missing_items"]

CountCallback = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class EmbedSummary:
    """What an embedding job did: entries computed, entries already cached, failures and the caches filled."""

    images: int
    computed: int
    already_cached: int
    failed: tuple[str, ...]
    caches: tuple[str, ...]
    seconds: float


def _load_classifier(path: Path):
    """A classifier saved by :meth:`keras.Model.save` (not a run: the seeded model before training), in safe mode."""
    import keras

    import imgclf.models.layers  # noqa: F401  (registers imgclf's layers for deserialization)

    return keras.saving.load_model(path, compile=False, safe_mode=True)


def missing_items(prep: Prepared, cfg: Config, caches: list[FeatureCache]) -> tuple[list[dict], int]:
    """Rows ``{path, view}`` for the entries some cache lacks (train: every view; val: the clean one), and the
    number of entries wanted in all."""
    items, wanted = [], 0
    for split, views in (("train", 1 + cfg.cache_views), ("val", 1)):
        paths, _ = prep.data.xy(split)
        digests = [content_hash(p) for p in paths]
        items += [{"path": str(paths[i]), "view": v} for v, i in missing_entries(caches, digests, views)]
        wanted += len(paths) * views
    return items, wanted


class EmbedActor:
    """One feature extractor per Ray actor: decode, augment views > 0, forward; returns float16 outputs."""

    def __init__(self, model: list, cfg: Config, spec_name: str, size: int, with_activations: bool, cpus: float):
        import ray

        configure_tensorflow(cpus)
        with tempfile.TemporaryDirectory(prefix="imgclf-embed-") as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(ray.get(model[0]))
            classifier = _load_classifier(path)
        self.forward = feature_forward(classifier, backbone_of(classifier), get_backbone(spec_name), with_activations)
        self.augmenter = build_augmenter(cfg.augment, seed=cfg.seed)
        self.size, self.max_pixels = size, cfg.max_pixels

    def _pixels(self, path: str, data: object, error: str) -> np.ndarray | None:
        if error:
            return None
        try:
            return decode_image(data, self.size, max_pixels=self.max_pixels, name=path)
        except DecodeError:
            return None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded = [self._pixels(*row) for row in zip(batch["path"], batch["data"], batch["error"], strict=True)]
        ok = np.array([px is not None for px in decoded])
        blank = np.zeros((self.size, self.size, 3), np.uint8)
        x = np.stack([blank if px is None else px for px in decoded]).astype(np.float32)
        augmented = np.asarray(batch["view"]) > 0
        if self.augmenter is not None and augmented.any():
            x[augmented] = np.asarray(self.augmenter(x[augmented], training=True))
        outputs = {f"out{k}": np.asarray(o, np.float16) for k, o in enumerate(self.forward(x))}
        return {"path": batch["path"], "digest": batch["digest"], "view": batch["view"], "ok": ok, **outputs}


def _embed_on_ray(
    prep: Prepared, cfg: Config, caches: list[FeatureCache], items: list[dict], options: RayOptions, count
) -> list[str]:
    """Compute ``items`` on a pool of actors and store them in ``caches``; the paths that failed."""
    with tempfile.TemporaryDirectory(prefix="imgclf-embed-") as tmp:
        prep.model.save(Path(tmp) / "model.keras")
        model_bytes = (Path(tmp) / "model.keras").read_bytes()
    failed: list[str] = []
    with ray_session(options):
        import ray

        cpus, note = actor_cpus(options, ray.cluster_resources().get("CPU", 1.0))
        if note:
            print(f"note: {note}", file=sys.stderr)
        ds = ray.data.from_items(items, override_num_blocks=block_count(len(items), options))
        ds = ds.map_batches(read_batch, batch_format="pandas", num_cpus=READ_CPUS)
        args = (cfg, prep.spec.name, prep.size, len(caches) > 1, options.cpus_per_actor)
        ds = ds.map_batches(
            EmbedActor,
            fn_constructor_args=([ray.put(model_bytes)], *args),
            batch_size=options.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=options.actors[0], max_size=options.actors[1]),
            num_cpus=cpus,
            num_gpus=options.gpus_per_actor or None,
        )
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            for j, (path, digest, view, ok) in enumerate(
                zip(batch["path"], batch["digest"], batch["view"], batch["ok"], strict=True)
            ):
                if not ok:
                    failed.append(str(path))
                    continue
                for k, cache in enumerate(caches):
                    cache.put(str(digest), int(view), batch[f"out{k}"][j])
            count(len(batch["ok"]))
    return failed


def embed_dataset(
    data: str | Path,
    cfg: Config,
    *,
    engine: str = "ray",
    options: RayOptions | None = None,
    progress: ProgressCallback | None = None,
    count: CountCallback | None = None,
    ignore_check: bool = False,
) -> EmbedSummary:
    """Fill the feature cache with what ``imgclf train DATA`` (same settings) reads: every view of every image.

    ``engine`` is ``ray`` (a pool of actors, see :class:`EmbedActor`) or ``local`` (this process, through the
    trainer's own extraction). ``count`` is called with the number of entries each finished batch computed.
    The dataset check refuses an unsafe dataset as ``train`` does, unless ``ignore_check``.
    """
    started = time.perf_counter()
    notify = progress or (lambda event: None)
    prep = prepare(data, cfg, notify, ignore_check=ignore_check)
    with tempfile.TemporaryDirectory(prefix="imgclf-embed-") as tmp:
        ctx = prep.context(cfg, Run(tmp), notify)
        caches = feature_caches(prep.backbone, ctx)
        items, wanted = missing_items(prep, cfg, caches)
        failed: list[str] = []
        if items and engine == "ray":
            failed = _embed_on_ray(prep, cfg, caches, items, options or RayOptions(), count or (lambda n: None))
        elif items:
            ctx.checkpoints.mkdir()
            cached_inputs(prep.model, prep.backbone, ctx)
    problem = next((c.problem for c in caches if c.problem), None)
    if problem:
        raise ScaleError(
            f"Feature cache '{caches[0].root}' cannot be written ({problem}); free some space or set "
            "IMGCLF_CACHE_DIR to a writable folder, then embed again."
        )
    names = tuple(c.name for c in caches)
    images = len(prep.data.train) + len(prep.data.val)
    seconds = time.perf_counter() - started
    return EmbedSummary(images, len(items) - len(failed), wanted - len(items), tuple(failed), names, seconds)
