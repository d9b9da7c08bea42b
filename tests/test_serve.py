"""``imgclf serve`` over real HTTP: a uvicorn server in a thread on a free 127.0.0.1 port, a tinycnn run."""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from imgclf.engine.predictor import load
from imgclf.serve import ServeSettings
from imgclf.serve.schemas import ImagePrediction
from serve_helpers import running

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def clf(tiny_run: Path):
    return load(tiny_run)


@pytest.fixture(scope="module")
def images(tiny_run: Path) -> list[Path]:
    """Six test images of the run (two per class)."""
    test = json.loads((tiny_run / "splits.json").read_text())["test"]
    by_class: dict[str, list[Path]] = {}
    for path, label in test:
        by_class.setdefault(label, []).append(Path(path))
    return [p for paths in by_class.values() for p in paths[:2]]


@pytest.fixture(scope="module")
def server(clf):
    with running(clf, ServeSettings(port=0, max_images=8, max_pixels=200 * 200)) as live:
        yield live


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]


def _expected(clf, paths: list[Path]) -> list[dict]:
    """What ``imgclf predict`` computes for ``paths``, in the API's form, with the upload names."""
    rows = [ImagePrediction.of(p).model_dump() for p in clf.predict(paths)]
    return [{**row, "path": p.name} for row, p in zip(rows, paths, strict=True)]


def test_multipart_matches_classifier_predict(server, clf, images):
    response = httpx.post(f"{server.url}/v1/predict", files=_files(images[:3]))
    assert response.status_code == 200
    assert response.json()["predictions"] == _expected(clf, images[:3])
    one = httpx.post(f"{server.url}/v1/predict", files=_files(images[3:4])).json()["predictions"]
    assert one == _expected(clf, images[3:4])
    assert one[0]["label"] == images[3].name.split("_")[0] and one[0]["status"] == "ok"
    assert one[0]["top_k"][0]["label"] == one[0]["label"] and len(one[0]["top_k"]) == 3


def test_base64_json_matches_multipart(server, clf, images):
    payload = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()} for p in images[:2]]
    payload[1]["data"] = "data:image/png;base64," + payload[1]["data"]
    payload.append({"data": base64.b64encode(images[2].read_bytes()).decode()})
    response = httpx.post(f"{server.url}/v1/predict", json={"images": payload})
    assert response.status_code == 200
    expected = _expected(clf, images[:3])
    expected[2]["path"] = "image[2]"
    assert response.json()["predictions"] == expected


def _png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 200, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_bad_files_get_per_image_errors_not_500(server, images):
    good = images[0].read_bytes()
    files = [
        ("files", ("good.png", good, "image/png")),
        ("files", ("truncated.png", good[: len(good) // 2], "image/png")),
        ("files", ("notes.png", b"just some text", "image/png")),
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("huge.png", _png(300), "image/png")),  # 90,000 pixels, over this server's 40,000
    ]
    response = httpx.post(f"{server.url}/v1/predict", files=files, data={"files": "photo.jpg"})
    assert response.status_code == 200
    by_name = {p["path"]: p for p in response.json()["predictions"]}
    assert by_name.pop("good.png")["status"] == "ok"
    assert {name: p["status"] for name, p in by_name.items()} == dict.fromkeys(
        ["truncated.png", "notes.png", "empty.png", "huge.png", "files"], "error"
    )
    assert by_name["truncated.png"]["error"].startswith("'truncated.png' is damaged or truncated")
    assert by_name["notes.png"]["error"].startswith("'notes.png' is not an image")
    assert by_name["empty.png"]["error"].startswith("'empty.png' is empty (0 bytes)")
    assert "'huge.png' is 300x300 = 90,000 pixels, over the limit of 40,000" in by_name["huge.png"]["error"]
    assert "holds text, not a file" in by_name["files"]["error"]
    assert all(p["label"] is None and p["top_k"] == [] for p in by_name.values())
    bad_base64 = httpx.post(f"{server.url}/v1/predict", json={"images": [{"name": "x.jpg", "data": "%%%"}]})
    assert bad_base64.status_code == 200 and "not valid base64" in bad_base64.json()["predictions"][0]["error"]


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "'text/plain' is not supported"),
        ({"json": {"pictures": []}}, 422, "images: Field required"),
        ({"json": {"images": []}}, 422, "holds no images"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "Malformed JSON"),
    ],
)
def test_malformed_requests_get_clear_4xx(server, kwargs, status, message):
    response = httpx.post(f"{server.url}/v1/predict", **kwargs)
    assert response.status_code == status and message in response.json()["detail"]


def test_too_many_images_is_413(server, images):
    response = httpx.post(f"{server.url}/v1/predict", files=_files(images[:1] * 9))
    assert response.status_code == 413
    assert response.json()["detail"] == "The request holds 9 images, over the limit of 8 per request; split it."


def test_model_info_and_health(server, clf):
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["classes"] == list(clf.classes) and info["input_size"] == clf.input_size == 64
    assert info["backbone"] == "tinycnn" and info["runtime"] == "keras" and info["metrics"] is None
    assert {"imgclf", "keras", "tensorflow"} <= set(info["versions"])
    assert info["limits"]["max_images"] == 8 and info["batching"]["max_batch"] == 32
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{server.url}/openapi.json").json()
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)


def test_concurrent_clients_are_batched_and_correct(clf, images):
    settings = ServeSettings(port=0, max_batch=64, max_wait_ms=300)
    results: list[tuple[Path, dict]] = []
    barrier = threading.Barrier(16)

    def client(i: int) -> None:
        path = images[i % len(images)]
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            for _ in range(3):
                response = http.post(f"{live.url}/v1/predict", files=_files([path]))
                results.append((path, response.json()["predictions"][0] | {"code": response.status_code}))

    with running(clf, settings) as live:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stats = httpx.get(f"{live.url}/v1/model").json()["batching"]
    assert len(results) == 48 and all(r["code"] == 200 for _, r in results)
    expected = {p: _expected(clf, [p])[0] for p in images}
    for path, got in results:
        assert got["label"] == expected[path]["label"] and got["status"] == expected[path]["status"]
        assert got["confidence"] == pytest.approx(expected[path]["confidence"], abs=1e-5)
    assert stats["images"] == stats["requests"] == 48
    assert stats["largest_batch"] > 1 and stats["batches"] < 48


def test_bearer_token_is_required_when_set(clf, images):
    with running(clf, ServeSettings(port=0, api_key=TOKEN)) as live:
        url = f"{live.url}/v1/predict"
        missing = httpx.post(url, files=_files(images[:1]))
        wrong = httpx.post(url, files=_files(images[:1]), headers={"Authorization": "Bearer nope"})
        basic = httpx.get(f"{live.url}/v1/model", auth=("user", TOKEN))
        right = httpx.post(url, files=_files(images[:1]), headers={"Authorization": f"Bearer {TOKEN}"})
        open_paths = [httpx.get(f"{live.url}{path}").status_code for path in ("/healthz", "/readyz", "/docs")]
    for response in (missing, wrong, basic):
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "Missing bearer token" in missing.json()["detail"] and "Wrong bearer token" in wrong.json()["detail"]
    assert TOKEN not in wrong.text
    assert right.status_code == 200 and right.json()["predictions"][0]["status"] == "ok"
    assert open_paths == [200, 200, 200]


def test_oversize_requests_are_413_declared_or_streamed(clf, images):
    with running(clf, ServeSettings(port=0, max_request_bytes=10_000)) as live:
        declared = httpx.post(f"{live.url}/v1/predict", content=b"x" * 12_000, headers={"content-type": "image/png"})

        def chunks():
            for _ in range(12):
                yield b"y" * 1000

        streamed = httpx.post(f"{live.url}/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        small = httpx.post(f"{live.url}/v1/predict", files=_files(images[:1]))  # about 6 kB
    assert declared.status_code == 413 and "12,000 bytes, over the limit of 10,000" in declared.json()["detail"]
    assert "transfer-encoding" not in declared.request.headers
    assert streamed.status_code == 413 and "over the limit of 10,000" in streamed.json()["detail"]
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert small.status_code == 200


def test_slow_client_gets_408_and_does_not_hold_the_model(clf, images):
    with running(clf, ServeSettings(port=0, body_timeout_s=1.0)) as live:
        port = int(live.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            slow.sendall(head + b'Content-Length: 1000\r\n\r\n{"images": [')
            meanwhile = httpx.post(f"{live.url}/v1/predict", files=_files(images[:1]))
            answer = slow.recv(4096).decode()
    assert meanwhile.status_code == 200
    assert answer.startswith("HTTP/1.1 408") and "did not arrive within 1 s" in answer


def test_a_run_that_fails_to_load_is_not_ready(tmp_path, tiny_run):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "calibration.json").write_text("{not json", encoding="utf-8")
    with running(broken, ServeSettings(port=0)) as live:
        ready, health = httpx.get(f"{live.url}/readyz"), httpx.get(f"{live.url}/healthz")
        predict = httpx.post(f"{live.url}/v1/predict", json={"images": [{"data": ""}]})
    assert ready.status_code == health.status_code == predict.status_code == 503
    assert ready.json()["status"] == "failed" and "calibration.json" in ready.json()["error"]
    assert "failed to load" in predict.json()["detail"]


@pytest.fixture(scope="module")
def evaluated_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run after 'imgclf evaluate': metrics, threshold, OOD threshold, conformal sets."""
    from imgclf.evaluation import evaluate

    run = tmp_path_factory.mktemp("served") / "evaluated"
    shutil.copytree(tiny_run, run)
    evaluate(run, html=False)
    return run


def test_an_evaluated_run_serves_its_metrics_calibration_and_sets(evaluated_run, images):
    with running(evaluated_run, ServeSettings(port=0, sets=0.9)) as live:  # loaded from the folder
        info = httpx.get(f"{live.url}/v1/model").json()
        got = httpx.post(f"{live.url}/v1/predict", files=_files(images[:3])).json()["predictions"]
    clf = load(evaluated_run)
    assert info["run"] == "evaluated" and info["metrics"]["accuracy"] is not None
    assert info["metrics"]["evaluated_on"] == "test" and info["metrics"]["images"] == 18
    assert info["calibration"]["threshold"] == clf.policy.threshold is not None
    assert info["calibration"]["set_coverage"] == 0.9
    rows = [ImagePrediction.of(p).model_dump() for p in clf.predict(images[:3], sets=0.9)]
    assert got == [{**row, "path": p.name} for row, p in zip(rows, images[:3], strict=True)]
    assert all(row["set"] and row["label"] in row["set"] for row in got)


def test_sets_on_a_run_without_conformal_calibration_fail_clearly(clf):
    with running(clf, ServeSettings(port=0, sets=0.9)) as live:
        ready = httpx.get(f"{live.url}/readyz").json()
    assert ready["status"] == "failed" and "run 'imgclf evaluate RUN' first" in ready["error"]


def test_onnx_runtime_gives_the_keras_predictions(clf, images, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    with running(clf, ServeSettings(port=0, runtime="onnx")) as live:  # converts the run's model at start-up
        got = httpx.post(f"{live.url}/v1/predict", files=_files(images)).json()["predictions"]
        info = httpx.get(f"{live.url}/v1/model").json()
    assert info["runtime"] == "onnx" and "onnxruntime" in info["versions"]
    for row, want in zip(got, _expected(clf, images), strict=True):
        assert (row["path"], row["label"], row["status"]) == (want["path"], want["label"], want["status"])
        assert row["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
        assert row["ood_score"] == pytest.approx(want["ood_score"], abs=1e-5)


def test_onnx_file_without_features_is_refused_clearly(clf, tmp_path):
    pytest.importorskip("tf2onnx")
    import tensorflow as tf

    path = tmp_path / "probabilities-only.onnx"
    signature = [tf.TensorSpec((None, 64, 64, 3), tf.float32, name="image")]
    clf.model.export(str(path), format="onnx", verbose=False, input_signature=signature)
    with running(clf, ServeSettings(port=0, runtime="onnx", onnx_path=str(path))) as live:
        ready = httpx.get(f"{live.url}/readyz")
    assert ready.status_code == 503 and "gives only probabilities" in ready.json()["error"]
