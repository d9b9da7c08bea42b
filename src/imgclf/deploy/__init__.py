"""Deployment: export a run as a standalone model for other runtimes (SavedModel, ONNX, LiteRT)."""

from imgclf.deploy.export import ExportResult, default_out, export_run
from imgclf.deploy.formats import FORMATS, QUANTIZE_MODES, UNAVAILABLE, ExportError
from imgclf.deploy.verify import Verification

__all__ = [
    "FORMATS",
    "QUANTIZE_MODES",
    "UNAVAILABLE",
    "ExportError",
    "ExportResult",
    "Verification",
    "default_out",
    "export_run",
]
