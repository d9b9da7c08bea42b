"""The predictor: load a run and classify images with calibrated confidence and uncertainty flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from imgclf.data.decode import DEFAULT_MAX_PIXELS, DecodeError, decode_image
from imgclf.engine.confidence import ConfidencePolicy
from imgclf.engine.ood import KnnOOD
from imgclf.engine.precision_check import head_settings, inference_precision
from imgclf.engine.run import Run
from imgclf.models.build import rebuild
from imgclf.models.registry import BackboneSpec, get_backbone

__all__ = ["Classifier", "ImageInput", "Prediction", "Request", "load", "to_pixels"]

ImageInput = str | Path | bytes | np.ndarray | Image.Image


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The classification of one image. ``status`` is ok, uncertain, unfamiliar or error."""

    source: str
    label: str | None
    confidence: float
    status: str
    top_k: tuple[tuple[str, float], ...] = ()
    probabilities: tuple[float, ...] = ()
    ood_score: float | None = None
    error: str | None = None
    prediction_set: tuple[str, ...] | None = None

    @classmethod
    def failed(
        cls, source: str, error: Exception | str, *, prediction_set: tuple[str, ...] | None = None
    ) -> Prediction:
        """The ``error`` entry for an image that could not be decoded (``prediction_set=()`` when sets were asked)."""
        return cls(source, None, 0.0, "error", error=str(error), prediction_set=prediction_set)

    @property
    def index(self) -> int | None:
        """Index of the predicted class, or ``None`` for an image that failed to decode."""
        return int(np.argmax(self.probabilities)) if self.probabilities else None

    def to_row(self) -> dict[str, object]:
        """A flat dict for CSV / JSON output."""
        row = {"path": self.source, "label": self.label, "confidence": round(self.confidence, 6)}
        row |= {"status": self.status, "ood_score": None if self.ood_score is None else round(self.ood_score, 6)}
        row["top_k"] = "; ".join(f"{name}:{p:.4f}" for name, p in self.top_k)
        if self.prediction_set is not None:  # asked for: every row of the call has the column
            row["set"] = "; ".join(self.prediction_set)
        row["error"] = self.error or ""
        return row


def to_pixels(
    image: ImageInput, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> np.ndarray:
    """Any supported image input to ``(size, size, 3)`` uint8 RGB through the shared decoding path (errors call
    the image ``name``, default its path or ``<uploaded bytes>``)."""
    if isinstance(image, str | Path | bytes):
        return decode_image(image, size, max_pixels=max_pixels, name=name)
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise DecodeError(f"An array image must be (H, W, 3) RGB, got shape {arr.shape}.")
    if arr.shape[:2] != (size, size):
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR))
    return arr.astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Request:
    """What a caller asked of a prediction: how many classes, which threshold, which set coverage."""

    top_k: int = 3
    threshold: float | None = None
    sets: float | None = None


def _source_name(image: ImageInput, i: int) -> str:
    return str(image) if isinstance(image, str | Path) else f"image[{i}]"


class Classifier:
    """A trained model with its classes and confidence policy. Thread-safe for prediction.

    ``jit_compile=True`` compiles the forward pass with XLA: faster per call, and unaffected by the Keras
    session reset Streamlit performs after every script run (so the app keeps its warm-up), at the cost of
    one compilation per batch shape.
    """

    def __init__(
        self,
        model: keras.Model,
        classes: Sequence[str],
        *,
        spec: BackboneSpec,
        input_size: int,
        policy: ConfidencePolicy | None = None,
        ood: KnnOOD | None = None,
        run_dir: Path | None = None,
        jit_compile: bool = False,
    ):
        self.model = model
        self.classes = tuple(classes)
        self.spec = spec
        self.input_size = input_size
        self.policy = policy or ConfidencePolicy()
        self.ood = ood
        self.run_dir = run_dir
        self.jit_compile = jit_compile
        pool = model.get_layer("pool").output
        self._infer = keras.Model(model.inputs, [pool, model.output], name="infer")
        self._infer_fn = self._compile_infer(jit_compile)

    @property
    def precision(self) -> str:
        """The dtype policy the model computes in: ``float32``, or e.g. ``mixed_bfloat16`` (see :func:`load`)."""
        return self.model.dtype_policy.name

    def at_precision(self, policy: str, *, head_units: Sequence[int], dropout: float) -> Classifier:
        """This classifier with its model rebuilt under the dtype ``policy`` (same weights, classes, calibration
        and OOD scorer); ``head_units`` and ``dropout`` are the run's head settings."""
        if policy == self.precision:
            return self
        model = rebuild(self.model, self.spec, policy=policy, head_units=head_units, dropout=dropout)
        return Classifier(
            model,
            self.classes,
            spec=self.spec,
            input_size=self.input_size,
            policy=self.policy,
            ood=self.ood,
            run_dir=self.run_dir,
            jit_compile=self.jit_compile,
        )

    @property
    def infer_model(self) -> keras.Model:
        """The model with two outputs, pooled features and raw probabilities (what :meth:`forward` runs)."""
        return self._infer

    def _compile_infer(self, jit_compile: bool):
        import tensorflow as tf

        return tf.function(lambda x: self._infer(x, training=False), reduce_retracing=True, jit_compile=jit_compile)

    def forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features and raw (uncalibrated) probabilities for a batch of uint8 pixels."""
        feats, probs = self._infer_fn(np.asarray(pixels, dtype=np.float32))
        return np.asarray(feats, dtype=np.float32), np.asarray(probs, dtype=np.float32)

    def predict_pixels(self, pixels: np.ndarray, *, tta: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and OOD scores (NaN without a scorer) for a batch of uint8 pixels."""
        feats, probs = self.forward(pixels)
        if tta:
            flip_feats, flip_probs = self.forward(pixels[:, :, ::-1, :])
            feats, probs = (feats + flip_feats) / 2, (probs + flip_probs) / 2
        return self.scores(feats, probs)

    def scores(self, features: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and OOD scores (NaN without a scorer) from a batch's pooled features and raw
        probabilities, whichever runtime computed them."""
        ood = self.ood.score(features) if self.ood is not None else np.full(len(probs), np.nan)
        return self.policy.calibrate(probs), ood

    def describe(
        self,
        source: str,
        features: np.ndarray,
        probs: np.ndarray,
        *,
        top_k: int = 3,
        threshold: float | None = None,
        sets: float | None = None,
    ) -> Prediction:
        """The prediction for one image from its pooled ``features`` and raw ``probs`` (e.g. a Grad-CAM pass)."""
        calibrated, ood = self.scores(np.asarray(features)[None], np.asarray(probs)[None])
        return self.prediction(source, calibrated[0], ood[0], Request(top_k, threshold, sets))

    def prediction(self, source: str, probs: np.ndarray, ood: float, request: Request | None = None) -> Prediction:
        """The prediction for one image from one row of :meth:`predict_pixels` (calibrated ``probs``, ``ood``)."""
        request = request or Request()
        order = np.argsort(probs)[::-1][: request.top_k]
        conf = float(probs[order[0]])
        ood_score = None if np.isnan(ood) else float(ood)
        status = self.policy.status(conf, ood_score, request.threshold)
        members = None
        if request.sets is not None:
            members = tuple(self.classes[i] for i in self.policy.prediction_set(probs, request.sets))
        return Prediction(
            source=source,
            label=self.classes[order[0]],
            confidence=conf,
            status=status,
            top_k=tuple((self.classes[i], float(probs[i])) for i in order),
            probabilities=tuple(float(p) for p in probs),
            ood_score=ood_score,
            prediction_set=members,
        )

    def _decode(self, image: ImageInput, name: str | None) -> np.ndarray | DecodeError:
        try:
            return to_pixels(image, self.input_size, name=name)
        except DecodeError as exc:
            return exc

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        top_k: int = 3,
        threshold: float | None = None,
        tta: bool = False,
        batch_size: int = 32,
        sets: float | None = None,
        names: Sequence[str] | None = None,
    ) -> list[Prediction]:
        """Classify ``images`` (paths, bytes, arrays or Pillow images); a bad image gets status ``error``.

        ``sets`` (e.g. 0.9) adds each image's conformal prediction set: the classes that hold the true one with
        at least that probability (needs a run calibrated by ``imgclf evaluate``). ``names`` (one per image) is
        what results and error messages call each image; by default the path, or ``image[i]``. Images are
        decoded in a thread pool one batch ahead of the model, so decoding overlaps inference and memory holds
        at most two batches of pixels.
        """
        request = Request(top_k, threshold, sets)
        if sets is not None:
            self.policy.require_sets(sets)
        sources = list(names) if names is not None else [_source_name(image, i) for i, image in enumerate(images)]
        if len(sources) != len(images):
            raise ValueError(f"{len(sources)} names for {len(images)} images; pass one name per image.")
        named = sources if names is not None else [None] * len(images)  # paths name themselves in errors
        results: list[Prediction] = []
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) + 2)) as pool:

            def submit(lo: int, hi: int) -> list:
                return [pool.submit(self._decode, im, n) for im, n in zip(images[lo:hi], named[lo:hi], strict=True)]

            pending = submit(0, batch_size)
            for start in range(0, len(images), batch_size):
                decoded = [f.result() for f in pending]
                pending = submit(start + batch_size, start + 2 * batch_size)
                results += self._predict_batch(sources[start : start + batch_size], decoded, request, tta)
        return results

    def _predict_batch(self, sources, decoded, request: Request, tta: bool) -> list[Prediction]:
        good = [(j, px) for j, px in enumerate(decoded) if not isinstance(px, DecodeError)]
        out: list[Prediction | None] = [None] * len(decoded)
        if good:
            probs, ood = self.predict_pixels(np.stack([px for _, px in good]), tta=tta)
            for (j, _), p, o in zip(good, probs, ood, strict=True):
                out[j] = self.prediction(sources[j], p, o, request)
        empty_set = None if request.sets is None else ()
        for j, px in enumerate(decoded):
            if isinstance(px, DecodeError):
                out[j] = Prediction.failed(sources[j], px, prediction_set=empty_set)
        return out


def load(
    run_dir: str | Path | Run, *, jit_compile: bool = False, with_ood: bool = True, fastest: str | None = None
) -> Classifier:
    """Load a finished run as a :class:`Classifier` (safe mode; damaged runs are refused clearly).

    ``with_ood=False`` skips the training embeddings (evaluation, which rewrites them, needs no OOD scorer).
    The model computes in this machine's fastest dtype policy (``fastest``; default
    ``resolve_precision("auto")``, e.g. ``mixed_bfloat16`` on CPUs with native bfloat16) when the run records
    a passed parity check for that policy (``imgclf evaluate``), else in float32; ``fastest="float32"`` always
    gives the saved float32 model (export, evaluation).
    """
    run = run_dir if isinstance(run_dir, Run) else Run.open(run_dir)
    features = run.features() if with_ood else None
    clf = Classifier(
        run.load_model(),
        run.classes,
        spec=get_backbone(run.backbone),
        input_size=run.input_size,
        policy=ConfidencePolicy.from_calibration(run.calibration),
        ood=KnnOOD(features) if features is not None else None,
        run_dir=run.path,
        jit_compile=jit_compile,
    )
    chosen, _ = inference_precision(run, fastest)
    if chosen == "float32":
        return clf
    head_units, dropout = head_settings(run)
    return clf.at_precision(chosen, head_units=head_units, dropout=dropout)
