"""``imgclf serve RUN``: a REST prediction service (FastAPI + uvicorn) with dynamic micro-batching."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def _at_least_one(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1.")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"'{value}' is not a port number (0-65535; 0 picks a free one).")
    return int(value)


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of at least 0.")
    return number


def _confidence(value: str) -> float:
    number = _non_negative(value)
    if number > 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a confidence in [0, 1]; e.g. 0.9.")
    return number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a run over HTTP: POST /v1/predict, GET /v1/model, /healthz, /readyz, docs at /docs",
        description="Serve RUN as a REST API. Concurrent requests share forward passes (dynamic micro-batching). "
        "Listens on 127.0.0.1 unless --host says otherwise; when IMGCLF_API_KEY is set, /v1/* needs "
        "'Authorization: Bearer $IMGCLF_API_KEY'. SIGTERM finishes the requests in flight, then exits.",
    )
    parser.add_argument("run", type=Path, help="run folder made by 'imgclf train'")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)")
    parser.add_argument(
        "--runtime", choices=("keras", "onnx"), default="keras", help="what runs the model (default: keras)"
    )
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="FILE",
        help="with --runtime onnx: a model.onnx giving pooled features and probabilities (default: convert the run "
        "at start-up, which needs imgclf[export])",
    )
    parser.add_argument("--max-batch", type=_at_least_one, default=32, help="images per forward pass (default: 32)")
    parser.add_argument(
        "--max-wait-ms", type=_non_negative, default=2.0, help="how long a batch waits for more requests (default: 2)"
    )
    parser.add_argument("--max-images", type=_at_least_one, default=32, help="images per request (default: 32)")
    parser.add_argument("--max-request-mb", type=_non_negative, default=32.0, help="request size limit (default: 32)")
    parser.add_argument("--top-k", type=_at_least_one, default=3, help="classes listed per image (default: 3)")
    parser.add_argument(
        "--threshold", type=_confidence, help="confidence below which a prediction is 'uncertain' (default: the run's)"
    )
    parser.add_argument(
        "--sets",
        type=_confidence,
        metavar="COVERAGE",
        help="add each image's conformal prediction set at this coverage, e.g. 0.9 (needs 'imgclf evaluate')",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check the run and the address, then serve until SIGTERM or Ctrl+C."""
    from imgclf.engine.run import Run
    from imgclf.errors import ImgclfError
    from imgclf.serve import API_KEY_ENV, ServeSettings, serve
    from imgclf.serve.server import bind
    from imgclf.serve.settings import is_loopback

    if args.onnx is not None and args.runtime != "onnx":
        raise ImgclfError(f"--onnx {args.onnx} is used only with --runtime onnx; add it or leave out --onnx.")
    opened = Run.open(args.run)
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        api_key=os.environ.get(API_KEY_ENV),
        runtime=args.runtime,
        onnx_path=str(args.onnx) if args.onnx else None,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_images=args.max_images,
        max_request_bytes=max(1, int(args.max_request_mb * 2**20)),
        top_k=args.top_k,
        threshold=args.threshold,
        sets=args.sets,
    )
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    auth = f"bearer token required ({API_KEY_ENV})" if settings.api_key else f"no token ({API_KEY_ENV} not set)"
    print(
        f"imgclf serve: {opened.path.name} on {url} ({settings.runtime} runtime, {auth}); docs at {url}/docs",
        flush=True,
    )
    if not is_loopback(settings.host) and not settings.api_key:
        print(
            f"warning: listening on {settings.host} without {API_KEY_ENV}: anyone who can reach this port can use "
            "the model.",
            file=sys.stderr,
            flush=True,
        )
    serve(opened, settings, sock)
    return 0
