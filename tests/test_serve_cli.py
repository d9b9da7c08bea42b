"""The ``imgclf serve`` command: a real process (readiness, SIGTERM drain, access log), and its errors."""

from __future__ import annotations

import json
import shutil
import signal
import socket
from pathlib import Path

import httpx
import pytest

from imgclf.cli.main import build_parser, main
from imgclf.serve import ServeSettings
from serve_helpers import serve_process, wait_ready

TOKEN = "t0ken-never-logged"


def _raw_request(url: str, image: Path) -> tuple[bytes, bytes]:
    """The head and body of an authorised multipart POST /v1/predict (with a secret in its query string)."""
    request = httpx.Request(
        "POST",
        f"{url}/v1/predict?api_key=query-secret",
        files=[("files", (image.name, image.read_bytes(), "image/png"))],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    body = request.read()
    lines = [f"POST {request.url.raw_path.decode()} HTTP/1.1"] + [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


def test_sigterm_drains_the_request_in_flight_then_exits_0(tiny_run: Path):
    image = Path(json.loads((tiny_run / "splits.json").read_text())["test"][0][0])
    with serve_process([str(tiny_run)], env={"IMGCLF_API_KEY": TOKEN}) as (process, url):
        states = wait_ready(url)
        head, body = _raw_request(url, image)
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=60) as upload:
            upload.sendall(head + body[:100])  # a request in flight: its body is still arriving
            assert httpx.get(f"{url}/healthz").status_code == 200  # the server has read the head by now
            process.send_signal(signal.SIGTERM)
            assert process.stderr is not None
            before = []
            for line in process.stderr:  # until uvicorn has begun its graceful shutdown
                before.append(line)
                if "Shutting down" in line:
                    break
            upload.sendall(body[100:])
            answer = b"".join(iter(lambda: upload.recv(65536), b""))
        stderr = "".join(before) + process.communicate(timeout=60)[1]
    assert states[-1] == (200, "ready") and all(s in ((503, "loading"), (200, "ready")) for s in states)
    assert "Shutting down" in before[-1] and process.returncode == 0, stderr[-2000:]
    status, _, payload = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200")
    assert json.loads(payload)["predictions"][0]["label"] == image.name.split("_")[0]
    assert '"POST /v1/predict" 200' in stderr and '"GET /readyz" 200' in stderr
    assert TOKEN not in stderr and "query-secret" not in stderr and "Traceback" not in stderr


def test_serve_defaults_to_loopback_and_port_8000():
    args = build_parser().parse_args(["serve", "runs/x"])
    assert (args.host, args.port, args.runtime) == ("127.0.0.1", 8000, "keras")
    assert ServeSettings().host == "127.0.0.1"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_serve_on_a_bad_run_is_one_clear_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    err = _error(capsys)
    assert err.startswith("imgclf serve: error:") and "nope" in err and "does not exist" in err


def test_serve_on_a_busy_port_or_missing_onnx_is_one_clear_line(tiny_run, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(tiny_run), "--port", str(port)]) == 2
    err = _error(capsys)
    assert f"Cannot listen on 127.0.0.1:{port}" in err and "choose another --port" in err
    assert main(["serve", str(tiny_run), "--onnx", "model.onnx"]) == 2
    assert "--onnx model.onnx is used only with --runtime onnx" in _error(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--port", "70000"], "'70000' is not a port"), (["--max-batch", "0"], "'0'"), (["--threshold", "2"], "'2'")],
)
def test_serve_rejects_bad_options(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "runs/x", *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_model_that_fails_to_load_stops_the_command_with_a_clear_error(tiny_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "calibration.json").write_text("{not json", encoding="utf-8")  # Run.open does not read it
    with serve_process([str(broken)]) as (process, _):
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "imgclf serve: error: Loading the model failed:" in stderr and "calibration.json" in stderr
    assert "Traceback" not in stderr
