"""The JSON shapes of the API (they also make the OpenAPI docs at ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from imgclf.engine.predictor import Prediction

__all__ = [
    "PREDICT_BODY",
    "Base64Image",
    "Health",
    "ImagePrediction",
    "ModelInfo",
    "PredictJSON",
    "PredictResponse",
    "TopK",
]


class Base64Image(BaseModel):
    """One image sent as JSON."""

    name: str | None = Field(None, description="a name to report back (default: image[i])")
    data: str = Field(description="the file's bytes in base64 (a data: URL prefix is accepted)")


class PredictJSON(BaseModel):
    """The JSON form of a prediction request."""

    images: list[Base64Image]


class TopK(BaseModel):
    label: str
    probability: float


class ImagePrediction(BaseModel):
    """The prediction for one image: the fields of ``imgclf predict``, with ``top_k`` as a list."""

    path: str = Field(description="the upload's file name, or image[i]")
    label: str | None
    confidence: float = Field(description="calibrated probability of the label")
    status: Literal["ok", "uncertain", "unfamiliar", "error"]
    ood_score: float | None = Field(description="distance to the training images; higher is less familiar")
    top_k: list[TopK]
    set: list[str] | None = Field(None, description="the conformal prediction set, when the server makes sets")
    error: str | None = Field(description="why the image could not be read (status 'error')")

    @classmethod
    def of(cls, prediction: Prediction) -> ImagePrediction:
        """The API form of a :class:`Prediction`: ``Prediction.to_row`` figures, ``top_k`` as objects."""
        row = prediction.to_row()
        top_k = [TopK(label=name, probability=round(p, 6)) for name, p in prediction.top_k]
        members = None if prediction.prediction_set is None else list(prediction.prediction_set)
        return cls(**{**row, "top_k": top_k, "set": members, "error": prediction.error})


class PredictResponse(BaseModel):
    predictions: list[ImagePrediction]


class Health(BaseModel):
    status: Literal["ok", "ready", "loading", "failed"]
    error: str | None = None


class ModelInfo(BaseModel):
    """What is being served."""

    run: str | None
    backbone: str
    input_size: int
    classes: list[str]
    runtime: str
    calibration: dict[str, float | None] = Field(
        description="temperature, threshold, OOD threshold and prediction-set coverage in use"
    )
    metrics: dict[str, Any] | None = Field(description="summary of the run's evaluation ('imgclf evaluate'), if any")
    versions: dict[str, str]
    limits: dict[str, int | float]
    batching: dict[str, Any] = Field(description="the micro-batcher's settings and what it has done so far")


# /v1/predict reads its body itself (multipart or JSON), so its OpenAPI request body is written out here.
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "data": {"type": "string"}},
                                "required": ["data"],
                            },
                        }
                    },
                    "required": ["images"],
                }
            },
        },
    }
}
