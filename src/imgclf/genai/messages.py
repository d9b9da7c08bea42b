"""What is sent to a model: chat messages with an optional image, and the provider protocol.

Images are sent as they are when the provider accepts the format, they are small enough and they carry no
metadata. Anything else (other formats, large photos, EXIF with possible GPS position) is re-encoded from
the upright pixels, so no camera metadata ever leaves the machine.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from PIL import Image

from imgclf.data.decode import open_image
from imgclf.genai.deadline import Call

__all__ = ["ImagePart", "Message", "Provider", "prepare_image"]

_PASSTHROUGH = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_SIDE = 2048
MAX_BYTES = 4_000_000


@dataclasses.dataclass(frozen=True)
class ImagePart:
    """Encoded image bytes and their MIME type."""

    data: bytes
    mime_type: str


@dataclasses.dataclass(frozen=True)
class Message:
    """One turn of a conversation; ``role`` is ``user`` or ``assistant``."""

    role: str
    text: str
    image: ImagePart | None = None


class Provider(Protocol):
    """A model that streams text and answers with JSON."""

    @property
    def label(self) -> str:
        """``provider/model``."""
        ...

    def stream(self, system: str, messages: Sequence[Message], call: Call) -> Iterator[str]:
        """The reply to ``messages`` as text chunks by ``call``'s deadline; failures raise ``GenAIError``."""
        ...

    def complete_json(self, system: str, messages: Sequence[Message], schema: Mapping[str, Any], call: Call) -> str:
        """The reply as JSON text following ``schema`` where the provider supports it, by ``call``'s deadline."""
        ...


def _has_metadata(img: Image.Image) -> bool:
    return bool(img.info.get("exif")) or bool(img.getexif()) or "xmp" in img.info or "XML:com.adobe.xmp" in img.info


def prepare_image(image_bytes: bytes) -> ImagePart:
    """``image_bytes`` ready to send: unchanged when safe, otherwise an upright JPEG without metadata."""
    img = open_image(image_bytes)  # refuses undecodable bytes with a DecodeError
    with Image.open(io.BytesIO(image_bytes)) as probe:
        fmt, size = probe.format, probe.size
        clean = not _has_metadata(probe) and not getattr(probe, "is_animated", False)
    if fmt in _PASSTHROUGH and clean and max(size) <= MAX_SIDE and len(image_bytes) <= MAX_BYTES:
        return ImagePart(image_bytes, _PASSTHROUGH[fmt])
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return ImagePart(out.getvalue(), "image/jpeg")
