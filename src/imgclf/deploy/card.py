"""The model card of an export (``MODEL_CARD.md``): what the model is, how to call it, and what it cannot do."""

from __future__ import annotations

import dataclasses
from typing import Any

from imgclf.deploy.formats import ExportFormat
from imgclf.deploy.verify import Verification

__all__ = ["CardFacts", "model_card", "usage_snippet"]


@dataclasses.dataclass(frozen=True)
class CardFacts:
    """Everything the card states, gathered from the run and the verification."""

    run_name: str
    backbone: str
    input_size: int
    classes: tuple[str, ...]
    fmt: ExportFormat
    quantize: str | None
    temperature: float
    threshold: float | None
    dataset: str | None
    split_counts: dict[str, int]
    metrics: dict[str, Any] | None
    verification: Verification


_RUNTIME_CALL = {
    "savedmodel": (
        "import tensorflow as tf\n",
        'serve = tf.saved_model.load("1").signatures["serving_default"]\n'
        'probs = serve(image=tf.constant(pixels))["output_0"].numpy()[0]\n',
    ),
    "onnx": (
        "import onnxruntime as ort\n",
        'session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])\n'
        'probs = session.run(None, {"image": pixels})[0][0]\n',
    ),
    "tflite": (
        "from ai_edge_litert.interpreter import Interpreter\n",
        'runner = Interpreter(model_path="model.tflite").get_signature_runner()\n'
        'probs = runner(image=pixels)["output_0"][0]\n',
    ),
}
_INSTALL = {"savedmodel": "tensorflow", "onnx": "onnxruntime", "tflite": "ai-edge-litert"}


def usage_snippet(fmt: str, input_size: int) -> str:
    """A Python script, run inside the export folder as ``python predict.py IMAGE``, that prints the label,
    its calibrated confidence and ``ok`` / ``uncertain``; it needs Pillow, NumPy and the runtime only."""
    imports, call = _RUNTIME_CALL[fmt]
    return (
        "import json\nimport sys\n\nimport numpy as np\n"
        + imports
        + "from PIL import Image, ImageOps\n\n"
        + f"SIZE = {input_size}\n"
        + "image = Image.open(sys.argv[1])\n"
        + 'image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale first, as imgclf does\n'
        + 'image = ImageOps.exif_transpose(image).convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)\n'
        + "pixels = np.asarray(image, np.float32)[None]  # (1, SIZE, SIZE, 3) RGB in [0, 255]\n\n"
        + call
        + "\n"
        + 'classes = json.load(open("labels.json"))["classes"]\n'
        + 'calibration = json.load(open("calibration.json"))\n'
        + 'logits = np.log(np.clip(probs, 1e-12, 1.0)) / calibration["temperature"]\n'
        + "calibrated = np.exp(logits - logits.max())\n"
        + "calibrated /= calibrated.sum()\n"
        + "best = int(calibrated.argmax())\n"
        + 'status = "ok" if calibrated[best] >= (calibration["threshold"] or 0.0) else "uncertain"\n'
        + 'print(classes[best], f"{calibrated[best]:.4f}", status)\n'
    )


def _metrics_lines(metrics: dict[str, Any] | None) -> list[str]:
    if metrics is None:
        return ["Not evaluated: run `imgclf evaluate` on the run, then export again, to have figures here."]
    test, calib = metrics.get("test", {}), metrics.get("calibration", {})
    lines = [
        f"Measured by `imgclf evaluate` on the {metrics.get('evaluated_on', '?')} split ({test.get('n', '?')} images),"
        " with the Keras model:",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for key, label in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("f1_macro", "macro F1")):
        if isinstance(test.get(key), float):
            lines.append(f"| {label} | {test[key]:.4f} |")
    if isinstance(calib.get("ece_after"), float):
        lines.append(f"| calibration error (ECE, after temperature) | {calib['ece_after']:.4f} |")
    return [*lines, "", *(f"- Note: {note}" for note in metrics.get("notes", []))]


def _limits(facts: CardFacts) -> list[str]:
    limits = [
        f"- It always answers with one of its {len(facts.classes)} classes: a photo of anything else still gets "
        "a label. imgclf flags such photos as `unfamiliar` with a nearest-neighbour detector on the training "
        "embeddings; that detector is **not** part of this export (it needs the training features), so only the "
        "confidence threshold is portable.",
        "- The temperature and threshold were fitted on the validation split; on different photos (other "
        "cameras, lighting, subjects) confidence and accuracy can be worse than stated.",
        "- Decode images as imgclf does (above). Another resizer or colour conversion shifts probabilities a little.",
    ]
    if facts.quantize:
        limits.append(
            f"- Quantized to {facts.quantize}: probabilities differ from the float32 model by up to "
            f"{facts.verification.max_abs_diff:.2g}; accuracy was checked on validation images (above)."
        )
    return limits


def _header(facts: CardFacts) -> list[str]:
    fmt, size = facts.fmt, facts.input_size
    kind = fmt.name + (f", quantized to {facts.quantize}" if facts.quantize else ", float32")
    if facts.threshold is None:
        threshold = "no confidence threshold (the run was not evaluated)"
    else:
        threshold = f"confidence threshold {facts.threshold:.4f}: a lower top probability is `uncertain`"
    return [
        f"# {facts.run_name}: image classifier ({kind})",
        "",
        f"Exported by imgclf from run `{facts.run_name}`: a fine-tuned `{facts.backbone}` with a softmax head, "
        f"to run with {fmt.runtime} (`{fmt.model_path}`).",
        "",
        "## Classes",
        "",
        *(f"{i}. {name}" for i, name in enumerate(facts.classes)),
        "",
        "## Input and output",
        "",
        f"- Input `image`: float32 `(batch, {size}, {size}, 3)`, RGB pixels in [0, 255]. Preprocessing is inside "
        "the model. Decode as imgclf does: apply the EXIF orientation, convert to RGB, resize to "
        f"{size} x {size} with bilinear filtering (no crop).",
        f"- Output: float32 `(batch, {len(facts.classes)})` softmax probabilities in the order of `labels.json`, "
        "before calibration.",
        f"- Calibration (`calibration.json`): temperature {facts.temperature:.4f} (calibrated = softmax(log(p) / "
        f"temperature)); {threshold}.",
        "",
    ]


def _usage(facts: CardFacts) -> list[str]:
    name = facts.fmt.name
    lines = [
        "## How to call it",
        "",
        f"`pip install {_INSTALL[name]} pillow numpy`, then inside this folder `python predict.py photo.jpg`, "
        "which is:",
        "",
        "```python",
        usage_snippet(name, facts.input_size).rstrip(),
        "```",
        "",
    ]
    if name == "savedmodel":
        lines += [
            "TF Serving reads this folder as is (version `1`): `docker run -p 8501:8501 -v $PWD:/models/clf "
            '-e MODEL_NAME=clf tensorflow/serving`, then POST `{"instances": [PIXELS]}` to '
            "`/v1/models/clf:predict`.",
            "",
        ]
    return lines


def _evidence(facts: CardFacts) -> list[str]:
    v, counts = facts.verification, ", ".join(f"{n} {split}" for split, n in facts.split_counts.items() if n)
    return [
        "## Intended use",
        "",
        f"Sorting photos into {', '.join(facts.classes)}, like the training photos, with a person reviewing the "
        "`uncertain` ones. Not for decisions about people, nor for photos unlike the training data.",
        "",
        "## Data",
        "",
        f"Trained on `{facts.dataset or 'unknown'}` ({counts or 'counts unknown'} images).",
        "",
        "## Metrics",
        "",
        *_metrics_lines(facts.metrics),
        "",
        "## Verification of this export",
        "",
        f"Run with {facts.fmt.runtime} on {v.images} validation images and compared with the Keras model: largest "
        f"probability difference {v.max_abs_diff:.2e}, top-1 agreement {v.top1_agreement:.1%}, accuracy "
        f"{v.export_accuracy:.1%} (Keras {v.keras_accuracy:.1%}).",
        "",
    ]


def model_card(facts: CardFacts) -> str:
    """The Markdown text of ``MODEL_CARD.md`` for one export."""
    limits = ["## Known limits", "", *_limits(facts), ""]
    return "\n".join([*_header(facts), *_usage(facts), *_evidence(facts), *limits])
