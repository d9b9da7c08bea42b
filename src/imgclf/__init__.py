"""imgclf: turn a folder of labelled photos into a trustworthy image classifier and an app.

Public API::

    import imgclf
    report = imgclf.check_dataset("data/")        # dataset health
    run_dir = imgclf.train("data/", out="runs/x") # two-phase transfer learning
    clf = imgclf.load(run_dir)                    # a Classifier
    clf.predict(["photo.jpg"])                    # [Prediction(label=..., confidence=..., status=...)]
"""

from imgclf.config import Config, ConfigError, load_config
from imgclf.data.check import DatasetReport, check_dataset
from imgclf.data.decode import DecodeError, decode_image
from imgclf.data.layout import DatasetError, discover
from imgclf.engine.explainer import explain
from imgclf.engine.predictor import Classifier, Prediction, load
from imgclf.engine.progress import ProgressEvent
from imgclf.engine.run import BundleError, Run
from imgclf.engine.trainer import train
from imgclf.errors import ImgclfError
from imgclf.evaluation import EvalResult, evaluate
from imgclf.models.registry import BackboneSpec, get_backbone, list_backbones
from imgclf.models.weights import WeightsError

__version__ = "0.1.0"

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
