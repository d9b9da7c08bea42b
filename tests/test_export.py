"""A model.keras that stands alone, and `imgclf export`: each format run in its own runtime without imgclf."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import imgclf
from imgclf.cli.main import main
from imgclf.data.decode import decode_image
from imgclf.deploy import ExportError, export_run
from imgclf.engine.run import Run
from imgclf.models.layers import PREPROCESS_MODES, Preprocess, preprocess_layer
from imgclf.models.registry import REGISTRY

SRC = Path(__file__).resolve().parents[1] / "src"
MAIN = SRC / "imgclf" / "app" / "main.py"

# Prepended to every script that must run without imgclf: the import is blocked, and proven to fail.
NO_IMGCLF = """
import sys
sys.modules["imgclf"] = None
try:
    import imgclf
except ImportError:
    pass
else:
    raise SystemExit("imgclf is importable")
"""

# How a user of each runtime calls the export (no imgclf): argv = folder, pixels.npy, out.npy.
RUNTIME_SCRIPTS = {
    "keras": 'import keras\nm = keras.saving.load_model(folder + "/model.keras")\nprobs = m.predict(x, verbose=0)\n',
    "savedmodel": 'import tensorflow as tf\nf = tf.saved_model.load(folder + "/1").signatures["serving_default"]\n'
    'probs = f(image=tf.constant(x))["output_0"].numpy()\n',
    "onnx": 'import onnxruntime as ort\ns = ort.InferenceSession(folder + "/model.onnx")\n'
    'probs = s.run(None, {"image": x})[0]\n',
    "tflite": "from ai_edge_litert.interpreter import Interpreter\n"
    'r = Interpreter(model_path=folder + "/model.tflite").get_signature_runner()\nprobs = r(image=x)["output_0"]\n',
}


def without_imgclf(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in an isolated Python (-I) where ``import imgclf`` fails."""
    return subprocess.run(
        [sys.executable, "-I", "-c", NO_IMGCLF + code, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def run_in_runtime(runtime: str, folder: Path, pixels: np.ndarray, tmp: Path) -> np.ndarray:
    """The probabilities of the model in ``folder`` for ``pixels``, computed in a process without imgclf."""
    np.save(tmp / "pixels.npy", pixels)
    code = (
        "import numpy as np\nfolder, src, dst = sys.argv[1:4]\nx = np.load(src)\n"
        + RUNTIME_SCRIPTS[runtime]
        + "np.save(dst, np.asarray(probs))\n"
    )
    done = without_imgclf(code, str(folder), str(tmp / "pixels.npy"), str(tmp / "out.npy"), cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp / "out.npy")


def val_images(run: Path) -> list[Path]:
    return [path for path, _ in Run(run).splits()["val"]]


def val_pixels(run: Path, size: int = 64) -> np.ndarray:
    return np.stack([decode_image(p, size) for p in val_images(run)]).astype(np.float32)


# --- 1. model.keras stands alone ------------------------------------------------------------------------------


def test_registry_uses_only_known_preprocess_modes() -> None:
    assert {spec.preprocess for spec in REGISTRY.values()} <= set(PREPROCESS_MODES)


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_builtin_preprocessing_equals_the_legacy_layer(mode: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (2, 9, 7, 3)).astype(np.float32)
    pixels[0, 0, 0] = (0, 128, 255)
    new, old = preprocess_layer(mode), Preprocess(mode)
    assert new.__class__.__module__.startswith("keras."), "a Keras built-in layer, not imgclf's"
    np.testing.assert_allclose(np.asarray(new(pixels)), np.asarray(old(pixels)), rtol=0, atol=1e-5)
    assert not new.trainable_weights, "the preprocessing never trains"


def test_model_keras_loads_and_predicts_without_imgclf(tiny_run: Path, tmp_path: Path) -> None:
    pixels = val_pixels(tiny_run)
    expected = imgclf.load(tiny_run).forward(pixels)[1]
    probs = run_in_runtime("keras", tiny_run, pixels, tmp_path)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)


def test_old_runs_with_the_custom_layer_still_load(tiny_run: Path, tmp_path: Path) -> None:
    old_run = Path(shutil.copytree(tiny_run, tmp_path / "old"))
    model = imgclf.load(tiny_run).model
    inputs = keras.Input((64, 64, 3), name="image")
    x = Preprocess("tf", name="preprocess")(inputs)
    x = model.get_layer("pool")(model.get_layer("tinycnn")(x))
    Run(old_run).save_model(keras.Model(inputs, model.get_layer("head")(x)))
    pixels = val_pixels(tiny_run)
    np.testing.assert_allclose(
        imgclf.load(old_run).forward(pixels)[1], imgclf.load(tiny_run).forward(pixels)[1], rtol=0, atol=1e-5
    )


# --- 2. imgclf export -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    return {fmt: export_run(tiny_run, fmt, out=root / fmt).out for fmt in ("savedmodel", "onnx", "tflite")}


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx", "tflite"])
def test_every_format_matches_imgclf_in_its_own_runtime(
    fmt: str, exports: dict[str, Path], tiny_run: Path, tmp_path: Path
) -> None:
    folder, clf = exports[fmt], imgclf.load(tiny_run)
    pixels = val_pixels(tiny_run)
    probs = run_in_runtime(fmt, folder, pixels, tmp_path)
    np.testing.assert_allclose(probs, clf.forward(pixels)[1], rtol=0, atol=1e-5)
    assert json.loads((folder / "labels.json").read_text())["classes"] == list(clf.classes)
    calibration = json.loads((folder / "calibration.json").read_text())
    assert calibration["temperature"] == clf.policy.temperature and "threshold" in calibration
    card = (folder / "MODEL_CARD.md").read_text()
    for needle in ("## Classes", "blue", "(batch, 64, 64, 3)", "## Known limits", "## Intended use", "not** part"):
        assert needle in card
    assert not list(folder.parent.glob("*.partial"))


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx", "tflite"])
def test_the_exported_predict_script_agrees_with_imgclf(fmt: str, exports: dict[str, Path], tiny_run: Path) -> None:
    image = val_images(tiny_run)[0]
    code = 'import runpy\nrunpy.run_path("predict.py", run_name="__main__")\n'
    done = without_imgclf(code, str(image), cwd=exports[fmt])
    assert done.returncode == 0, done.stderr[-3000:]
    label, confidence, status = done.stdout.split()[-3:]
    expected = imgclf.load(tiny_run).predict([image])[0]
    assert (label, status) == (expected.label, "ok")
    assert float(confidence) == pytest.approx(expected.confidence, abs=1e-4)


def test_int8_tflite_export_is_quantized_and_verified(
    tiny_run: Path, exports: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "int8"
    assert main(["export", str(tiny_run), "--format", "tflite", "--quantize", "int8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Largest probability difference vs Keras" in printed and "Top-1 agreement with Keras: 100.0%" in printed
    assert "Validation accuracy: 100.0% (Keras 100.0%)" in printed
    assert (out / "model.tflite").stat().st_size < (exports["tflite"] / "model.tflite").stat().st_size / 2
    code = (
        "from ai_edge_litert.interpreter import Interpreter\n"
        "it = Interpreter(model_path=sys.argv[1])\n"
        "print(sorted({str(t['dtype'].__name__) for t in it.get_tensor_details()}))\n"
    )
    done = without_imgclf(code, str(out / "model.tflite"), cwd=tmp_path)
    assert "int8" in done.stdout, done.stderr[-2000:]
    pixels = val_pixels(tiny_run)
    probs = run_in_runtime("tflite", out, pixels, tmp_path)
    assert (probs.argmax(1) == imgclf.load(tiny_run).forward(pixels)[1].argmax(1)).all()
    assert "quantized to int8" in (out / "MODEL_CARD.md").read_text()


def test_failed_verification_leaves_no_folder(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "strict"
    with pytest.raises(ExportError, match=r"failed verification: its probabilities differ .* \(allowed 0\)"):
        export_run(tiny_run, "onnx", out=out, max_diff=0.0)
    assert not out.exists() and not out.with_name("strict.partial").exists()


def test_missing_converter_names_the_export_extra(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "onnx"
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # "import tf2onnx" fails, as where it is not installed
    assert main(["export", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "imgclf export: error: Exporting to onnx needs the 'tf2onnx' package" in err
    assert "pip install 'imgclf[export]'" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["RUN_MISSING", "--format", "onnx"], "does not exist"),
        (["RUN", "--format", "savedmodel", "--quantize", "int8"], "--quantize int8 is not supported for savedmodel"),
        (["RUN", "--format", "tfjs"], "tensorflowjs"),
        (["RUN", "--format", "onnx", "--out", "EXISTING"], "already exists; remove it or pass another --out"),
    ],
)
def test_bad_requests_get_one_clear_line(args, message, tiny_run: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "existing").mkdir()
    swap = {"RUN": str(tiny_run), "RUN_MISSING": str(tmp_path / "nope"), "EXISTING": str(tmp_path / "existing")}
    assert main(["export", *(swap.get(a, a) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgclf export: error: ") and message in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.partial"))


def test_unknown_format_is_refused_by_the_parser(tiny_run: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tiny_run), "--format", "coreml"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'coreml'" in capsys.readouterr().err


def test_model_page_offers_a_verified_export_download(tiny_run: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(tiny_run, runs / "tiny")
    at = AppTest.from_file(str(MAIN), default_timeout=300)
    at.session_state["runs_dir"] = str(runs)
    at.switch_page("pages/model.py").run()
    assert at.selectbox(key="export_quantize").options == ["none"], "a SavedModel is not quantized"
    at.selectbox(key="export_format").set_value("onnx").run()
    assert at.selectbox(key="export_quantize").options == ["none", "float16", "int8"]
    at.button(key="export_build").click().run()
    assert not at.exception, at.exception
    assert any("top-1 agreement 100.0%" in s.value for s in at.success)
    ready = at.session_state["export_ready"]
    assert ready.file_name == "tiny-onnx.zip"
    names = set(zipfile.ZipFile(io.BytesIO(ready.data)).namelist())
    assert {"tiny-onnx/model.onnx", "tiny-onnx/labels.json", "tiny-onnx/MODEL_CARD.md"} <= names
    assert at.get("download_button"), "the zip is offered as a download"


def test_model_card_states_metrics_calibration_and_limits() -> None:
    from imgclf.deploy.card import CardFacts, model_card
    from imgclf.deploy.formats import FORMATS
    from imgclf.deploy.verify import Verification

    metrics = {
        "evaluated_on": "test",
        "notes": ["A note from evaluate."],
        "test": {"n": 120, "accuracy": 0.9583, "balanced_accuracy": 0.95, "f1_macro": 0.9512},
        "calibration": {"ece_after": 0.0211},
    }
    facts = CardFacts(
        run_name="bees",
        backbone="resnet50",
        input_size=288,
        classes=("ants", "bees"),
        fmt=FORMATS["tflite"],
        quantize="int8",
        temperature=1.3,
        threshold=0.9,
        dataset="/data/hymenoptera",
        split_counts={"train": 245, "val": 153, "test": 0},
        metrics=metrics,
        verification=Verification(153, 0.031, 0.987, 0.954, 0.948),
    )
    card = model_card(facts)
    assert card.startswith("# bees: image classifier (tflite, quantized to int8)")
    for needle in (
        "0. ants",
        "(batch, 288, 288, 3)",
        "temperature 1.3000",
        "confidence threshold 0.9000",
        "on the test split (120 images)",
        "| accuracy | 0.9583 |",
        "| calibration error (ECE, after temperature) | 0.0211 |",
        "- Note: A note from evaluate.",
        "245 train, 153 val images",
        "accuracy 94.8% (Keras 95.4%)",
        "from ai_edge_litert.interpreter import Interpreter",
        "SIZE = 288",
        "Quantized to int8",
    ):
        assert needle in card, needle
