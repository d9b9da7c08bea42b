"""Reduced-precision inference: does a run predict the same in bfloat16 as in float32? Checked once, recorded.

``imgclf evaluate`` runs the run's model a second time, rebuilt under this machine's fastest dtype policy
(``mixed_bfloat16`` on CPUs with AVX512-BF16 or AMX), on the validation images it embeds anyway, and records a
:class:`ParityCheck` in the run (:attr:`imgclf.engine.run.Run.parity`). :func:`imgclf.load` then uses that
policy only on a machine whose fastest policy it is and only when the recorded check passed; else float32.

The verdict (:data:`TOLERANCE`): every top-1 prediction the same (that is what "same predictions" means), no
raw probability moved by more than 0.02 and every image's pooled features at cosine 0.999 or more to their
float32 values. bfloat16 rounds to 8 significant bits (about 0.4 %), but mixed precision keeps float32 weights
and a float32 softmax, and rounding errors of that size mostly cancel over a layer's many inputs: the tinycnn
test model moves by about 1e-4. 0.02 is loose enough for a larger network's accumulated rounding and tight
enough that the confidence threshold (a probability) decides alike but for images within two points of it.
The unfamiliar flag compares pooled features by cosine distance to the nearest training embeddings: features
at cosine 0.999 move a neighbour's similarity by at most sqrt(2 * 0.001) = 0.045 in the worst case, and by
about 0.045 / sqrt(features) (0.001 for ResNet50's 2048) when the rounding noise is spread over all features.
The margins were not measured on a real bfloat16 CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from imgclf.engine.predictor import Classifier
    from imgclf.engine.run import Run

__all__ = [
    "TOLERANCE",
    "ParityCheck",
    "ParityMeter",
    "Tolerance",
    "check_parity",
    "choose_precision",
    "compare",
    "head_settings",
    "inference_precision",
]


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far reduced-precision outputs may move: raw probabilities (absolute) and pooled features (cosine)."""

    max_prob_diff: float = 0.02
    min_feature_cosine: float = 0.999


TOLERANCE = Tolerance()


@dataclasses.dataclass(frozen=True)
class ParityCheck:
    """A dtype ``policy`` against float32 on ``images`` validation images: top-1 agreement (share), the largest
    raw probability difference, the smallest feature cosine, and whether that is within :class:`Tolerance`."""

    policy: str
    images: int
    agreement: float
    max_prob_diff: float
    min_feature_cosine: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ParityCheck:
        """The record written by :meth:`to_dict`; ``ValueError`` when a field is missing or of the wrong type."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        for name, kinds in _FIELD_TYPES.items():
            value = data.get(name)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ValueError(f"'{name}' is {value!r}")
        return cls(
            str(data["policy"]),
            int(data["images"]),
            float(data["agreement"]),
            float(data["max_prob_diff"]),
            float(data["min_feature_cosine"]),
            bool(data["passed"]),
        )


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "policy": (str,),
    "images": (int,),
    "agreement": (int, float),
    "max_prob_diff": (int, float),
    "min_feature_cosine": (int, float),
    "passed": (bool,),
}
Outputs = tuple[np.ndarray, np.ndarray]  # (pooled features, raw probabilities) of a batch


def _per_image(reference: Outputs, candidate: Outputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: same top-1 class, largest raw probability difference, cosine between the pooled features."""
    (ref_feats, ref_probs), (feats, probs) = reference, candidate
    ref_feats, feats = np.asarray(ref_feats, np.float64), np.asarray(feats, np.float64)
    ref_probs, probs = np.asarray(ref_probs, np.float64), np.asarray(probs, np.float64)
    norms = np.linalg.norm(ref_feats, axis=1) * np.linalg.norm(feats, axis=1)
    cosine = np.where(norms > 0, (ref_feats * feats).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    agree = ref_probs.argmax(axis=1) == probs.argmax(axis=1)
    return agree, np.abs(ref_probs - probs).max(axis=1, initial=0.0), cosine


def _verdict(policy: str, agree: np.ndarray, diff: np.ndarray, cosine: np.ndarray, tolerance: Tolerance) -> ParityCheck:
    """Passed only with at least one image, every top-1 the same and both differences within ``tolerance``."""
    images = len(agree)
    if not images:
        return ParityCheck(policy, 0, 0.0, 0.0, 0.0, False)
    agreement, max_diff, min_cosine = float(agree.mean()), float(diff.max()), float(cosine.min())
    passed = agreement == 1.0 and max_diff <= tolerance.max_prob_diff and min_cosine >= tolerance.min_feature_cosine
    return ParityCheck(policy, images, agreement, max_diff, min_cosine, passed)


def compare(policy: str, reference: Outputs, candidate: Outputs, tolerance: Tolerance = TOLERANCE) -> ParityCheck:
    """The verdict on outputs already computed: float32 ``reference`` and ``candidate`` (features, probs)."""
    return _verdict(policy, *_per_image(reference, candidate), tolerance)


class ParityMeter:
    """Compares a reduced-precision forward pass with float32 batch by batch (no pixels are kept), then judges.

    ``forward`` maps uint8 pixels to (pooled features, raw probabilities) under ``policy``; :meth:`update` gets
    each batch with its float32 outputs, so a pass that computes them anyway (evaluation) is not repeated.
    """

    def __init__(self, policy: str, forward: Callable[[np.ndarray], Outputs], tolerance: Tolerance = TOLERANCE):
        self.policy, self.forward, self.tolerance = policy, forward, tolerance
        self._stats: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def update(self, pixels: np.ndarray, features: np.ndarray, probs: np.ndarray) -> None:
        """Run the reduced pass on ``pixels`` and compare it with their float32 ``features`` and ``probs``."""
        if len(pixels):
            self._stats.append(_per_image((features, probs), self.forward(pixels)))

    def result(self) -> ParityCheck:
        """The verdict over every image seen so far."""
        columns = [np.concatenate(column) for column in zip(*self._stats, strict=True)] or [np.zeros(0)] * 3
        return _verdict(self.policy, *columns, self.tolerance)


def check_parity(
    clf: Classifier,
    pixels: np.ndarray,
    policy: str,
    *,
    head_units: tuple[int, ...],
    dropout: float,
    tolerance: Tolerance = TOLERANCE,
    batch_size: int = 32,
) -> ParityCheck:
    """Run the float32 classifier ``clf`` and its copy rebuilt under ``policy`` (e.g. ``mixed_bfloat16``) on
    ``pixels`` (uint8 validation images) and judge whether the copy predicts the same."""
    reduced = clf.at_precision(policy, head_units=head_units, dropout=dropout)
    meter = ParityMeter(policy, reduced.forward, tolerance)
    for start in range(0, len(pixels), batch_size):
        batch = pixels[start : start + batch_size]
        meter.update(batch, *clf.forward(batch))
    return meter.result()


def head_settings(run: Run) -> tuple[tuple[int, ...], float]:
    """The head's hidden units and dropout the run was trained with (what rebuilding its model needs)."""
    from imgclf.config import default_config

    config, defaults = run.config, default_config()
    return tuple(int(n) for n in config.get("head_units", defaults.head_units)), float(
        config.get("dropout", defaults.dropout)
    )


def choose_precision(fastest: str, check: ParityCheck | None) -> tuple[str, str]:
    """The dtype policy to predict in and why, given this machine's ``fastest`` policy and the run's check."""
    if fastest == "float32":
        return "float32", "float32: this machine has no faster precision (the CPU lacks native bfloat16)"
    if check is None or check.policy != fastest:
        return "float32", (
            f"float32: {fastest} (this machine's fastest) was never checked on this run; "
            "'imgclf evaluate' on this machine checks it"
        )
    if not check.passed:
        return "float32", (
            f"float32: {fastest} changed predictions on {check.images} validation images (top-1 agreement "
            f"{check.agreement:.2%}, max probability difference {check.max_prob_diff:.2g}, "
            f"min feature cosine {check.min_feature_cosine:.5f})"
        )
    return fastest, (
        f"{fastest}: same predictions as float32 on {check.images} validation images "
        f"(max probability difference {check.max_prob_diff:.2g}, min feature cosine {check.min_feature_cosine:.5f})"
    )


def inference_precision(run: Run, fastest: str | None = None) -> tuple[str, str]:
    """The dtype policy :func:`imgclf.load` uses for ``run`` on this machine and why.

    ``fastest`` is this machine's fastest policy (default: :func:`imgclf.models.build.resolve_precision`
    ``("auto")``); the run's record is read only when that is not float32.
    """
    if fastest is None:
        from imgclf.models.build import resolve_precision

        fastest = resolve_precision("auto")
    return choose_precision(fastest, None if fastest == "float32" else run.parity)
