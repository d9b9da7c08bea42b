"""Export formats: how each one is written from a Keras model and run in its own runtime.

Conversion goes through Keras' own ``model.export`` (SavedModel, ONNX via tf2onnx, LiteRT); quantization uses
the TFLite converter's options and ONNX Runtime's quantizer. Each format also opens its artifact in its own
runtime (TensorFlow, ONNX Runtime, the LiteRT interpreter), which is how an export is verified.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from imgclf.errors import ImgclfError

__all__ = ["EXPORT_EXTRA", "FORMATS", "QUANTIZE_MODES", "UNAVAILABLE", "ExportError", "ExportFormat", "get_format"]

EXPORT_EXTRA = "pip install 'imgclf[export]'"
QUANTIZE_MODES = ("float16", "int8")
Predict = Callable[[np.ndarray], np.ndarray]
UNAVAILABLE = {
    "tfjs": "TensorFlow.js export is not available: its converter (tensorflowjs 4.22, the latest release) pulls "
    "in a second TensorFlow and tensorflow-decision-forests, which pins TensorFlow 2.19 and older NumPy and "
    "protobuf, so it cannot be installed next to imgclf. Export 'savedmodel', then run tensorflowjs_converter "
    "--input_format=tf_saved_model on its folder '1' in a separate Python environment."
}


class ExportError(ImgclfError):
    """An export that cannot be made or that failed its verification."""


def _require(module: str, package: str, purpose: str) -> object:
    """Import ``module`` or raise an :class:`ExportError` naming the pip package and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"{purpose} needs the '{package}' package, which is not installed. {EXPORT_EXTRA}") from None


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One export format: what it writes, with which quantizations, and how to run it."""

    name: str
    model_path: str  # the artifact inside the export folder
    runtime: str
    quantize: tuple[str, ...]
    write: Callable[[keras.Model, Path, str | None, np.ndarray | None], None]
    open: Callable[[Path], Predict]
    requires: tuple[tuple[str, str], ...] = ()  # (module, pip package) needed to write and verify
    quantize_requires: tuple[tuple[str, str, str], ...] = ()  # (quantize mode, module, pip package)

    def check_installed(self, quantize: str | None) -> None:
        """Raise an :class:`ExportError` naming ``imgclf[export]`` when a converter or runtime is missing."""
        needs = [*self.requires, *((m, p) for mode, m, p in self.quantize_requires if mode == quantize)]
        what = f"Exporting to {self.name}" + (f" with --quantize {quantize}" if quantize else "")
        for module, package in needs:
            _require(module, package, what)


def _signature(model: keras.Model) -> list[object]:
    """The model's input, ``image``: float32 ``(batch, size, size, 3)`` (an explicit signature, so the model
    need not have been called before it is exported)."""
    import tensorflow as tf

    return [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="image")]


# --- SavedModel (TF Serving layout: a numbered version folder) ---------------------------------------------


def _write_savedmodel(model: keras.Model, path: Path, quantize: str | None, calibration: np.ndarray | None) -> None:
    model.export(path, format="tf_saved_model", verbose=False, input_signature=_signature(model))


def _open_savedmodel(path: Path) -> Predict:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (name,) = serve.structured_input_signature[1]
    return lambda pixels: next(iter(serve(**{name: tf.constant(pixels)}).values())).numpy()


# --- ONNX (tf2onnx through Keras; ONNX Runtime quantization) ------------------------------------------------


def _onnx_int8(source: Path, target: Path, calibration: np.ndarray) -> None:
    """Static int8 quantization (QDQ, per-channel weights), calibrated on ``calibration`` pixels."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self, name: str):
            self._batches = iter({name: calibration[i : i + 16]} for i in range(0, len(calibration), 16))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    prepared = source.with_name("prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    name = _onnx_input_name(prepared)
    quantize_static(
        str(prepared),
        str(target),
        Batches(name),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def _onnx_input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _keras_onnx(model: keras.Model, path: Path) -> None:
    with warnings.catch_warnings():  # Keras' tf2onnx shim probes np.object, which NumPy 2 warns about
        warnings.simplefilter("ignore", FutureWarning)
        model.export(path, format="onnx", verbose=False, input_signature=_signature(model))


def _write_onnx(model: keras.Model, path: Path, quantize: str | None, calibration: np.ndarray | None) -> None:
    if quantize is None:
        _keras_onnx(model, path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "model.onnx"
        _keras_onnx(model, plain)
        if quantize == "int8":
            _onnx_int8(plain, path, calibration)
        else:
            import onnx
            from onnxconverter_common import float16

            onnx.save(float16.convert_float_to_float16(onnx.load(str(plain)), keep_io_types=True), str(path))


def _open_onnx(path: Path) -> Predict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


# --- LiteRT (TFLite converter through Keras; LiteRT interpreter) --------------------------------------------


def _litert_options(quantize: str | None, calibration: np.ndarray | None) -> dict[str, object]:
    import tensorflow as tf

    if quantize is None:
        return {}
    if quantize == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}

    def representative():
        for i in range(len(calibration)):
            yield [calibration[i : i + 1]]

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}


def _write_tflite(model: keras.Model, path: Path, quantize: str | None, calibration: np.ndarray | None) -> None:
    options = _litert_options(quantize, calibration)
    model.export(str(path), format="litert", verbose=False, input_signature=_signature(model), **options)


def _open_tflite(path: Path) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=os.cpu_count()).get_signature_runner()
    (name,) = runner.get_input_details()
    return lambda pixels: next(iter(runner(**{name: pixels}).values()))


FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (
        ExportFormat("savedmodel", "1", "TensorFlow (SavedModel)", (), _write_savedmodel, _open_savedmodel),
        ExportFormat(
            "onnx",
            "model.onnx",
            "ONNX Runtime",
            QUANTIZE_MODES,
            _write_onnx,
            _open_onnx,
            (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
            (("float16", "onnxconverter_common", "onnxconverter-common"),),
        ),
        ExportFormat(
            "tflite",
            "model.tflite",
            "LiteRT",
            QUANTIZE_MODES,
            _write_tflite,
            _open_tflite,
            (("ai_edge_litert.interpreter", "ai-edge-litert"),),
        ),
    )
}


def get_format(name: str, quantize: str | None = None) -> ExportFormat:
    """The format called ``name``, checked against ``quantize``; a clear :class:`ExportError` otherwise."""
    if name in UNAVAILABLE:
        raise ExportError(UNAVAILABLE[name])
    if name not in FORMATS:
        raise ExportError(f"Unknown export format '{name}'; use one of: {', '.join(FORMATS)}.")
    fmt = FORMATS[name]
    if quantize is not None and quantize not in fmt.quantize:
        allowed = f"one of {', '.join(fmt.quantize)}" if fmt.quantize else "no quantization"
        raise ExportError(f"--quantize {quantize} is not supported for {name}: it takes {allowed}.")
    return fmt
