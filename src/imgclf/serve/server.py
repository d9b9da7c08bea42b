"""Running the API under uvicorn: one process, one model, a graceful stop on SIGTERM.

On SIGTERM (or Ctrl+C) uvicorn stops accepting connections, lets in-flight requests finish (up to
``graceful_timeout_s``), then stops the batcher. uvicorn re-raises the signal once it is done; a SIGTERM
handler installed around the run turns that into a normal return, so the process exits 0 after a drain.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from imgclf.engine.predictor import Classifier
from imgclf.engine.run import Run
from imgclf.errors import ImgclfError
from imgclf.serve.app import create_app
from imgclf.serve.settings import ServeSettings

__all__ = ["bind", "build_server", "log_config", "serve"]


def log_config() -> dict:
    """uvicorn's logging setup plus imgclf's own loggers (``imgclf.serve`` and its access log) on stderr."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["imgclf"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["imgclf"] = {
        "formatter": "imgclf",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["imgclf.serve"] = {"handlers": ["imgclf"], "level": "INFO", "propagate": False}
    return config


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0 picks a free one), or a clear error when it is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImgclfError(f"Cannot resolve host '{host}' ({exc.strerror}); use an address such as 127.0.0.1.") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ImgclfError(f"Cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _sigterm_returns() -> Iterator[None]:
    """While uvicorn runs, a SIGTERM it re-raises after its graceful shutdown ends the run normally."""
    previous = signal.signal(signal.SIGTERM, lambda *_: logging.getLogger("imgclf.serve").info("stopped (SIGTERM)"))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_server(source: Classifier | Run | str | Path, settings: ServeSettings) -> uvicorn.Server:
    """A uvicorn server for :func:`create_app` (``server.config.app``) that stops when the model fails to load."""
    config = uvicorn.Config(
        create_app(source, settings),
        log_config=log_config(),
        access_log=False,  # imgclf's access log (middleware.AccessLog) leaves out query strings and headers
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=settings.graceful_timeout_s,
        limit_concurrency=settings.max_connections,
        server_header=False,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    config.app.state.service.on_failure = stop
    return server


def serve(source: Classifier | Run | str | Path, settings: ServeSettings, sock: socket.socket | None = None) -> None:
    """Serve ``source`` until SIGTERM or Ctrl+C, on ``sock`` (default: a new socket bound to the settings).

    Raises :class:`ImgclfError` when the model fails to load (the server stops at once).
    """
    sock = sock or bind(settings.host, settings.port)
    server = build_server(source, settings)
    with _sigterm_returns():
        server.run(sockets=[sock])
    error = server.config.app.state.service.error
    if error:
        raise ImgclfError(f"Loading the model failed: {error}")
