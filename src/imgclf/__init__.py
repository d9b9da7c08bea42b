"""imgclf: turn a folder of labelled photos into a trustworthy image classifier and an app.

Public API::

    import imgclf
    report = imgclf.check_dataset("data/")        # dataset health
    run_dir = imgclf.train("data/", out="runs/x") # two-phase transfer learning
    clf = imgclf.load(run_dir)                    # a Classifier
    clf.predict(["photo.jpg"])                    # [Prediction(label=..., confidence=..., status=...)]

The names are loaded on first use (as Ultralytics does), so ``import imgclf`` and the light commands
(``imgclf --help``, ``backbones``, ``check``) never import TensorFlow.
"""

from imgclf._lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    "BackboneSpec": "imgclf.models.registry",
    "BundleError": "imgclf.engine.run",
    "Classifier": "imgclf.engine.predictor",
    "Config": "imgclf.config",
    "ConfigError": "imgclf.config",
    "DatasetError": "imgclf.data.layout",
    "DatasetReport": "imgclf.data.check",
    "DecodeError": "imgclf.data.decode",
    "EvalResult": "imgclf.evaluation",
    "ImgclfError": "imgclf.errors",
    "Prediction": "imgclf.engine.predictor",
    "ProgressEvent": "imgclf.engine.progress",
    "Run": "imgclf.engine.run",
    "WeightsError": "imgclf.models.weights",
    "check_dataset": "imgclf.data.check",
    "decode_image": "imgclf.data.decode",
    "discover": "imgclf.data.layout",
    "evaluate": "imgclf.evaluation",
    "explain": "imgclf.engine.explainer",
    "get_backbone": "imgclf.models.registry",
    "list_backbones": "imgclf.models.registry",
    "load": "imgclf.engine.predictor",
    "load_config": "imgclf.config",
    "train": "imgclf.engine.trainer",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "BackboneSpec",
    "BundleError",
    "Classifier",
    "Config",
    "ConfigError",
    "DatasetError",
    "DatasetReport",
    "DecodeError",
    "EvalResult",
    "ImgclfError",
    "Prediction",
    "ProgressEvent",
    "Run",
    "WeightsError",
    "__version__",
    "check_dataset",
    "decode_image",
    "discover",
    "evaluate",
    "explain",
    "get_backbone",
    "list_backbones",
    "load",
    "load_config",
    "train",
]
