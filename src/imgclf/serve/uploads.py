"""Reading the images of a prediction request: multipart file uploads or base64 JSON, fully, before the model.

A part or an entry that holds no readable bytes (a text field, bad base64) becomes a per-image error;
a request that is malformed as a whole gets a 4xx with a JSON ``detail`` that says what to send.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from imgclf.data.decode import DecodeError
from imgclf.serve.schemas import PredictJSON
from imgclf.serve.service import Upload

__all__ = ["read_uploads"]

HOW = (
    "send multipart/form-data with one 'files' part per image (curl -F files=@photo.jpg), "
    'or application/json {"images": [{"name": "photo.jpg", "data": "<base64>"}]}'
)


async def _multipart(request: Request) -> list[Upload]:
    uploads: list[Upload] = []
    async with request.form() as form:
        for i, (field, value) in enumerate(form.multi_items()):
            if isinstance(value, UploadFile):
                uploads.append((value.filename or f"image[{i}]", await value.read()))
            else:
                error = f"Field '{field}' holds text, not a file; upload the file itself (curl -F {field}=@photo.jpg)."
                uploads.append((field, DecodeError(error)))
    return uploads


def _from_base64(name: str, data: str) -> bytes | DecodeError:
    if data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return DecodeError(f"'{name}' is not valid base64 ({exc}); send the file's bytes base64-encoded.")


async def _json(request: Request) -> list[Upload]:
    try:
        body = PredictJSON.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise HTTPException(422, f"Malformed JSON request ({problems}); {HOW}.") from None
    names = [image.name or f"image[{i}]" for i, image in enumerate(body.images)]
    return [(name, _from_base64(name, image.data)) for name, image in zip(names, body.images, strict=True)]


async def read_uploads(request: Request, max_images: int) -> list[Upload]:
    """The request's images as ``(name, bytes or DecodeError)``, between 1 and ``max_images`` of them."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        uploads = await _multipart(request)
    elif content_type == "application/json":
        uploads = await _json(request)
    else:
        raise HTTPException(415, f"Content-Type '{content_type or '(none)'}' is not supported; {HOW}.")
    if not uploads:
        raise HTTPException(422, f"The request holds no images; {HOW}.")
    if len(uploads) > max_images:
        raise HTTPException(
            413, f"The request holds {len(uploads)} images, over the limit of {max_images} per request; split it."
        )
    return uploads
