"""The settings of the prediction service: where it listens, how it batches, what it refuses."""

from __future__ import annotations

import dataclasses
import ipaddress

from imgclf.data.decode import DEFAULT_MAX_PIXELS
from imgclf.errors import ImgclfError

__all__ = ["API_KEY_ENV", "RUNTIMES", "ServeSettings", "is_loopback"]

API_KEY_ENV = "IMGCLF_API_KEY"
RUNTIMES = ("keras", "onnx")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """How ``imgclf serve`` runs. The defaults are safe: loopback only, bounded requests, bounded waits."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # when set, /v1/* needs ``Authorization: Bearer <api_key>``
    runtime: str = "keras"  # or "onnx": an exported model.onnx through ONNX Runtime
    onnx_path: str | None = None  # the model.onnx for the onnx runtime (default: the run's export)
    max_batch: int = 32  # images per forward pass
    max_wait_ms: float = 2.0  # how long a batch that is not full waits for more requests
    max_images: int = 32  # images per request
    max_request_bytes: int = 32 * 2**20  # whole request body
    max_pixels: int = DEFAULT_MAX_PIXELS  # per decoded image, checked before its pixels are read
    body_timeout_s: float = 30.0  # a request body must arrive within this (slow clients get 408)
    top_k: int = 3
    threshold: float | None = None  # None: the run's calibrated threshold, if any
    sets: float | None = None  # coverage of conformal prediction sets (e.g. 0.9); None: no sets
    keep_alive_s: int = 5
    graceful_timeout_s: int = 30  # SIGTERM: how long in-flight requests may take to finish
    max_connections: int = 256  # beyond this, new connections get 503

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ImgclfError(f"Unknown runtime '{self.runtime}'; use one of {', '.join(RUNTIMES)}.")
        if not 0 <= self.port <= 65535:
            raise ImgclfError(f"Port {self.port} is out of range; use 1-65535 (0 picks a free one).")
        positive = {
            "max_batch": self.max_batch,
            "max_images": self.max_images,
            "max_request_bytes": self.max_request_bytes,
            "max_pixels": self.max_pixels,
            "top_k": self.top_k,
        }
        for name, value in positive.items():
            if value < 1:
                raise ImgclfError(f"{name} must be at least 1, got {value}.")
        if self.max_wait_ms < 0 or self.body_timeout_s <= 0:
            raise ImgclfError(
                f"max_wait_ms must be >= 0 and body_timeout_s > 0, got {self.max_wait_ms} and {self.body_timeout_s}."
            )
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ImgclfError(f"threshold must be a confidence in [0, 1], got {self.threshold}.")
        if self.sets is not None and not 0 < self.sets < 1:
            raise ImgclfError(f"sets must be a coverage between 0 and 1 (e.g. 0.9), got {self.sets}.")
        if self.api_key is not None and not self.api_key.strip():
            raise ImgclfError(f"{API_KEY_ENV} is set but empty; unset it or give it a secret value.")
