"""The one decoding path shared by training, evaluation, prediction and the app (no train/serve skew)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgclf.errors import ImgclfError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "DecodeError",
    "decode_image",
    "open_image",
    "read_header",
    "read_source",
]

DEFAULT_MAX_PIXELS = 89_000_000
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
ImageSource = str | Path | bytes


class DecodeError(ImgclfError, ValueError):
    """An image could not be decoded; the message names the file and the reason."""


def _name(source: ImageSource) -> str:
    return "<uploaded bytes>" if isinstance(source, bytes) else str(source)


def read_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """The format (MPO counts as JPEG) and the declared ``(width, height)`` of an image, from its header alone.

    Unlike ``Image.open``, this has no decompression-bomb check: a 30000x30000 file reports its real size
    (callers compare it with their own pixel cap) and Pillow's warning about large images is never raised.
    Raises ``UnidentifiedImageError`` when no Pillow format accepts the bytes, and what the format's header
    reader raises when the header is damaged.
    """
    Image.init()
    for fmt in Image.ID:
        opener, accepts = Image.OPEN[fmt]
        accepted = accepts is None or accepts(data[:16])
        if not accepted or isinstance(accepted, str):  # a string: the format's reason to refuse the bytes
            continue
        try:
            with opener(io.BytesIO(data), "") as img:
                return ("JPEG" if img.format == "MPO" else str(img.format)), img.size
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # not this format after all; Image.open tries the next one too
    raise UnidentifiedImageError("no image format accepts these bytes")


def _too_large(name: str, width: int, height: int, max_pixels: int) -> str:
    return (
        f"'{name}' is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}; "
        "downscale it or raise max_pixels if you trust the file."
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def read_source(source: ImageSource, *, name: str | None = None) -> bytes:
    """The bytes of ``source`` (a path, or bytes as they are); an unreadable file raises :class:`DecodeError`."""
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise DecodeError(f"Cannot read '{name or _name(source)}': {exc.strerror or exc}.") from exc


def open_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    name: str | None = None,
) -> Image.Image:
    """Open ``source`` (path or bytes) as an upright RGB Pillow image; ``name`` names it in error messages.

    EXIF orientation is applied, animations give their first frame, 16-bit / CMYK / palette / alpha
    images become 8-bit RGB, and images over ``max_pixels`` are refused before their pixels are read.
    Errors call the image ``name`` (default: its path, or ``<uploaded bytes>``).
    """
    name = name or _name(source)
    data = read_source(source, name=name)
    if not data:
        raise DecodeError(f"'{name}' is empty (0 bytes); remove it or replace it with the real image.")
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > max_pixels:
            raise DecodeError(_too_large(name, width, height, max_pixels))
        img.seek(0)
        if draft_size and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return _to_rgb(img)
    except DecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise DecodeError(f"'{name}' is not an image Pillow can read (whatever its extension).") from exc
    except Image.DecompressionBombError as exc:
        width, height = read_header(data)[1]
        if width * height > max_pixels:
            raise DecodeError(_too_large(name, width, height, max_pixels)) from exc
        raise DecodeError(f"'{name}' ({width}x{height}) looks like a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"'{name}' is damaged or truncated: {exc}.") from exc


def decode_image(
    source: ImageSource, size: int | None = None, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> np.ndarray:
    """Decode ``source`` to a ``(H, W, 3)`` uint8 RGB array, resized to ``size`` x ``size`` if given."""
    img = open_image(source, max_pixels=max_pixels, draft_size=size, name=name)
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)
