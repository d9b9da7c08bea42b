"""Evaluation of a finished run: metrics, calibration, thresholds, OOD, suspect labels, plots and report.

The names load on first use, so the light modules of this package (``tables``) never import TensorFlow.
"""

from imgclf._lazy import lazy_attributes

_EXPORTS = {
    "EvalResult": "imgclf.evaluation.evaluator",
    "Suspect": "imgclf.evaluation.suspects",
    "evaluate": "imgclf.evaluation.evaluator",
    "find_suspects": "imgclf.evaluation.suspects",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = ["EvalResult", "Suspect", "evaluate", "find_suspects"]
