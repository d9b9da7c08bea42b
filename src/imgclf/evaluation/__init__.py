"""Evaluation of a finished run: metrics, calibration, thresholds, OOD, suspect labels, plots and report."""

from imgclf.evaluation.evaluator import EvalResult, evaluate
from imgclf.evaluation.suspects import Suspect, find_suspects

__all__ = ["EvalResult", "Suspect", "evaluate", "find_suspects"]
