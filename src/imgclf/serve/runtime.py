"""The forward pass behind the service: Keras (the run's own model) or ONNX Runtime (an exported ``model.onnx``).

Either way a batch of uint8 pixels becomes calibrated probabilities and OOD scores through
:meth:`Classifier.scores`, so both runtimes apply the run's temperature, threshold and OOD detector alike.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from pathlib import Path

import numpy as np

from imgclf.engine.predictor import Classifier
from imgclf.errors import ImgclfError
from imgclf.serve.batcher import BatchFn
from imgclf.serve.settings import ServeSettings

__all__ = ["OnnxForward", "convert_to_onnx", "load_runtime", "onnx_forward", "runtime_versions"]


def convert_to_onnx(classifier: Classifier, path: Path) -> Path:
    """Write the classifier's two-output model (pooled features, probabilities) as ONNX at ``path`` (tf2onnx)."""
    import tensorflow as tf

    for module in ("tf2onnx", "onnx"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise ImgclfError(
                f"Converting the run to ONNX needs '{module}': pip install 'imgclf[export]', or pass --onnx FILE."
            ) from None
    size = classifier.input_size
    signature = [tf.TensorSpec((None, size, size, 3), tf.float32, name="image")]
    classifier.infer_model.export(str(path), format="onnx", verbose=False, input_signature=signature)
    return path


class OnnxForward:
    """An ONNX Runtime session over an exported model: pixels -> (pooled features or None, raw probabilities).

    The model takes float32 ``(n, size, size, 3)`` RGB pixels in 0-255 (preprocessing is inside, as in Keras)
    and gives the probabilities (the output whose last axis has one entry per class) and, optionally, the
    pooled features (another 2-D output), which the run's OOD detector needs.
    """

    def __init__(self, path: str | Path, classifier: Classifier):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImgclfError("The onnx runtime needs onnxruntime: pip install 'imgclf[serve]'.") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise ImgclfError(f"ONNX model '{self.path}' does not exist; pass the model.onnx of an export.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        # no busy-waiting between runs: the server's event loop and decoding threads need those cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for an unreadable file
            raise ImgclfError(f"'{self.path}' is not a model ONNX Runtime can load: {exc}") from None
        self.input = self.session.get_inputs()[0].name
        self.probs_index, self.features_index = self._outputs(len(classifier.classes))
        if classifier.ood is not None and self.features_index is None:
            raise ImgclfError(
                f"'{self.path}' gives only probabilities, but the run's OOD detector needs the pooled features; "
                "leave out --onnx (imgclf serve then converts the run with its features) or use --runtime keras."
            )

    def _outputs(self, n_classes: int) -> tuple[int, int | None]:
        shapes = [o.shape for o in self.session.get_outputs()]
        probs = [i for i, s in enumerate(shapes) if len(s) == 2 and s[-1] == n_classes]
        if not probs:
            raise ImgclfError(f"'{self.path}' has no output with {n_classes} class probabilities; outputs: {shapes}.")
        features = [i for i, s in enumerate(shapes) if len(s) == 2 and i != probs[-1]]
        return probs[-1], (features[0] if features else None)

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Pooled features (``None`` when the model gives none) and raw probabilities."""
        outputs = self.session.run(None, {self.input: np.asarray(pixels, dtype=np.float32)})
        features = None if self.features_index is None else np.asarray(outputs[self.features_index], np.float32)
        return features, np.asarray(outputs[self.probs_index], dtype=np.float32)


def onnx_forward(classifier: Classifier, onnx_path: str | Path | None) -> OnnxForward:
    """An ONNX Runtime session on ``onnx_path``, or on the classifier converted now when no path is given."""
    if onnx_path is not None:
        return OnnxForward(onnx_path, classifier)
    with tempfile.TemporaryDirectory(prefix="imgclf-onnx-") as tmp:
        return OnnxForward(convert_to_onnx(classifier, Path(tmp) / "model.onnx"), classifier)


def load_runtime(classifier: Classifier, settings: ServeSettings) -> BatchFn:
    """The batch function for ``settings.runtime``: uint8 pixels -> (calibrated probabilities, OOD scores)."""
    if settings.runtime == "keras":
        return classifier.predict_pixels
    forward = onnx_forward(classifier, settings.onnx_path)
    return lambda pixels: classifier.scores(*forward(pixels))  # features are None only without an OOD detector


_DISTRIBUTIONS = {
    "imgclf": ("imgclf",),
    "keras": ("keras",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "numpy": ("numpy",),
    "pillow": ("pillow",),
    "onnxruntime": ("onnxruntime",),
}


def _installed(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def runtime_versions(runtime: str) -> dict[str, str]:
    """Versions of imgclf and of the libraries that compute the predictions (onnxruntime for the onnx runtime)."""
    names = [name for name in _DISTRIBUTIONS if name != "onnxruntime" or runtime == "onnx"]
    return {name: version for name in names if (version := _installed(_DISTRIBUTIONS[name]))}
