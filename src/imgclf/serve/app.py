"""The REST API: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``, docs at ``/docs``.

:func:`create_app` builds the FastAPI application around one model (a :class:`Classifier`, or a run folder
loaded in the background so health checks answer at once). ``/v1/*`` needs ``Authorization: Bearer <key>``
when the settings hold an API key; the health checks and the docs never do.
"""

from __future__ import annotations

import secrets
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from imgclf.engine.predictor import Classifier
from imgclf.engine.run import Run
from imgclf.serve.middleware import AccessLog, BodyLimit
from imgclf.serve.schemas import PREDICT_BODY, Health, ImagePrediction, ModelInfo, PredictResponse
from imgclf.serve.service import Service, summarize_metrics
from imgclf.serve.settings import ServeSettings
from imgclf.serve.uploads import read_uploads

__all__ = ["create_app"]

_bearer = HTTPBearer(auto_error=False, description="the value of IMGCLF_API_KEY on the server")


def _service(request: Request) -> Service:
    return request.app.state.service


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Refuse the request (401) unless it carries the server's API key as a bearer token."""
    expected = _service(request).settings.api_key
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        reason = "Missing bearer token" if credentials is None else "Wrong bearer token"
        raise HTTPException(
            401, f"{reason}; send 'Authorization: Bearer <IMGCLF_API_KEY>'.", headers={"WWW-Authenticate": "Bearer"}
        )


def _ready(service: Service) -> None:
    if not service.ready:
        detail = f"The model failed to load: {service.error}" if service.error else "The model is still loading."
        raise HTTPException(503, detail + " Check GET /readyz.", headers={"Retry-After": "2"})


health = APIRouter(tags=["health"])
api = APIRouter(prefix="/v1", tags=["predict"])


@health.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(request: Request) -> Any:
    """Liveness: 200 while the process works; 503 once loading the model has failed."""
    service = _service(request)
    if service.error:
        return JSONResponse({"status": "failed", "error": service.error}, status_code=503)
    return Health(status="ok")


@health.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> Any:
    """Readiness: 200 once the model is loaded and warmed up, 503 before (or after a failed load)."""
    service = _service(request)
    if service.ready:
        return Health(status="ready")
    state = Health(status="failed", error=service.error) if service.error else Health(status="loading")
    return JSONResponse(state.model_dump(), status_code=503)


@api.post("/predict", response_model=PredictResponse, openapi_extra=PREDICT_BODY)
async def predict(request: Request) -> PredictResponse:
    """Classify one or more images (multipart ``files`` parts, or base64 JSON). An unreadable image gets
    ``status: error`` and its own ``error``; the others are classified as usual."""
    service = _service(request)
    _ready(service)
    uploads = await read_uploads(request, service.settings.max_images)
    predictions = await service.predict(uploads)
    return PredictResponse(predictions=[ImagePrediction.of(p) for p in predictions])


@api.get("/model", response_model=ModelInfo)
async def model(request: Request) -> ModelInfo:
    """The served model: classes, input size, calibration, evaluation summary, versions, limits, batching."""
    service = _service(request)
    _ready(service)
    return _model_info(service)


def _model_info(service: Service) -> ModelInfo:
    clf, s = service.classifier, service.settings
    assert clf is not None and service.batcher is not None
    policy = clf.policy
    batcher = service.batcher
    batching = {"max_batch": s.max_batch, "max_wait_ms": s.max_wait_ms, "in_flight": batcher.in_flight}
    batching |= batcher.stats.to_dict()
    limits = {
        "max_images": s.max_images,
        "max_request_bytes": s.max_request_bytes,
        "max_pixels": s.max_pixels,
        "body_timeout_s": s.body_timeout_s,
    }
    return ModelInfo(
        run=clf.run_dir.name if clf.run_dir else None,
        backbone=clf.spec.name,
        input_size=clf.input_size,
        classes=list(clf.classes),
        runtime=s.runtime,
        calibration={
            "temperature": policy.temperature,
            "threshold": s.threshold if s.threshold is not None else policy.threshold,
            "ood_threshold": policy.ood_threshold,
            "set_coverage": s.sets,
        },
        metrics=summarize_metrics(service.metrics),
        versions=service.versions(),
        limits=limits,
        batching={**batching, "uptime_s": round(time.time() - service.started, 1)},
    )


def create_app(source: Classifier | Run | str | Path, settings: ServeSettings | None = None) -> FastAPI:
    """The API around ``source``: a loaded :class:`Classifier`, or a run (folder) to load in the background."""
    settings = settings or ServeSettings()
    service = Service(source, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await service.start()
        yield
        await service.stop()

    app = FastAPI(
        title="imgclf",
        summary="Image classification with calibrated confidence and out-of-distribution flags.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.include_router(health)
    app.include_router(api, dependencies=[Depends(require_token)] if settings.api_key else [])
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(AccessLog)
    return app
