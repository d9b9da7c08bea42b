"""The Ray engine: batch prediction and feature extraction on a local Ray (num_cpus=2) and a 'ray start' cluster.

Skipped cleanly when Ray is not installed (``pip install 'imgclf[ray]'``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from imgclf.cli.main import main  # noqa: E402
from imgclf.config import load_config  # noqa: E402
from imgclf.engine.cache import cache_root, content_hash  # noqa: E402
from imgclf.scale.cluster import RayOptions, ScaleError, actor_cpus, block_count, parse_actors  # noqa: E402

pytestmark = pytest.mark.ray
SRC = Path(__file__).resolve().parents[1] / "src"
# ``imgclf ARGS``, then whether this process (the Ray job's driver) loaded TensorFlow: only the actors need it.
CLI = """
import sys
from imgclf.cli.main import main
code = main(sys.argv[1:])
print("TensorFlow loaded:", "tensorflow" in sys.modules)
raise SystemExit(code)
"""


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module's jobs (they find it initialised and use it)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Test images of the tiny run's dataset (one nested), a broken file and a zero-byte one."""
    folder = tmp_path_factory.mktemp("ray-images")
    test = json.loads((tiny_run / "splits.json").read_text())["test"]
    for i, (path, _) in enumerate(test[:10]):
        target = folder / ("nested" if i % 3 == 0 else "") / f"{i}_{Path(path).name}"
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _rows(path: Path) -> dict[str, dict[str, str]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(sorted(path.glob("part-*.parquet")))
        return {r["path"]: {k: "" if v is None else str(v) for k, v in r.items()} for r in table.to_pylist()}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def local_csv(tiny_run: Path, images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local engine's predictions of the images and of a missing file."""
    out = tmp_path_factory.mktemp("local") / "local.csv"
    assert main(["predict", str(tiny_run), str(images), str(images / "missing.png"), "--output", str(out)]) == 0
    return out


def test_ray_engine_writes_what_the_local_engine_writes(local_ray, tiny_run, images, local_csv, tmp_path, capsys):
    out = tmp_path / "ray.csv"
    args = ["predict", str(tiny_run), str(images), str(images / "missing.png"), "--output", str(out)]
    assert main([*args, "--engine", "ray", "--actors", "2", "--batch-size", "4"]) == 0
    assert "starve the read tasks" in capsys.readouterr().err  # 2 actors x 1 CPU on 2 CPUs: lowered, no hang
    local, remote = _rows(local_csv), _rows(out)
    assert out.read_text().splitlines()[0] == local_csv.read_text().splitlines()[0]  # same columns, same order
    assert set(remote) == set(local) and len(local) == 13
    for path, row in local.items():
        other = remote[path]
        assert (other["label"], other["status"], other["error"]) == (row["label"], row["status"], row["error"])
        assert other["content_hash"] == row["content_hash"]
        assert abs(float(other["confidence"]) - float(row["confidence"])) <= 1e-5
        if row["ood_score"]:
            assert abs(float(other["ood_score"]) - float(row["ood_score"])) <= 1e-5
    good = next(p for p, r in local.items() if r["status"] != "error")
    assert remote[good]["content_hash"] == content_hash(Path(good))


def test_bad_and_missing_files_are_error_rows(local_csv, images):
    """What the equality test above holds the Ray engine to: an error row per bad file, the job still done."""
    rows = _rows(local_csv)
    broken, empty, missing = (rows[str(images / name)] for name in ("broken.png", "empty.jpg", "missing.png"))
    assert {broken["status"], empty["status"], missing["status"]} == {"error"}
    assert "not an image" in broken["error"] and "empty" in empty["error"]
    assert "Cannot read" in missing["error"] and "missing.png" in missing["error"]
    assert broken["content_hash"] == content_hash(images / "broken.png") and missing["content_hash"] == ""
    assert sum(r["status"] != "error" for r in rows.values()) == 10


def test_resume_keeps_the_rows_written_and_predicts_the_rest(local_ray, tiny_run, images, local_csv, tmp_path):
    out = tmp_path / "ray.csv"
    lines = local_csv.read_text().splitlines()
    kept = [lines[1].replace(",ok,", ",KEPT,").replace(",uncertain,", ",KEPT,"), lines[2]]
    out.write_text("\n".join([lines[0], *kept, lines[3][:15]]))  # a stop cut the fourth row short
    assert main(["predict", str(tiny_run), str(images), "--output", str(out), "--engine", "ray", "--resume"]) == 0
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert len(rows) == 12 and len({r["path"] for r in rows}) == 12  # each image once, the cut row redone
    assert rows[0]["status"] == "KEPT"  # skipped, not recomputed


def test_parquet_output_is_sharded_and_resumable(local_ray, tiny_run, images, local_csv, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "preds.parquet"
    assert main(["predict", str(tiny_run), str(images), "--output", str(out)]) == 0  # the local engine
    local = _rows(local_csv)
    assert {p: r["label"] for p, r in _rows(out).items()} == {p: local[p]["label"] for p in _rows(out)}
    shard = out / "part-00000.parquet"
    pq.write_table(pq.read_table(shard).slice(0, 5), shard)  # as if the job had stopped after 5 rows
    (out / ".part-00001.parquet.tmp").write_bytes(b"half a shard")
    assert main(["predict", str(tiny_run), str(images), "--output", str(out), "--engine", "ray", "--resume"]) == 0
    rows = _rows(out)
    assert len(rows) == 12 and {p: r["label"] for p, r in rows.items()} == {p: local[p]["label"] for p in rows}
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert pq.read_table(out / "part-00001.parquet").num_rows == 7
    assert pq.read_table(shard).schema.field("confidence").type == "double"


def test_ray_embed_fills_the_cache_that_train_reads(local_ray, colour_dataset, tmp_path, monkeypatch, capsys):
    from imgclf.engine.trainer import train

    settings = ["--backbone", "tinycnn", "--weights", "none", "--set", "cache_views=1", "--set", "phase1_epochs=2"]
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(tmp_path / "ray-cache"))
    assert main(["embed", str(colour_dataset), *settings, "--engine", "ray", "--actors", "1"]) == 0
    assert "Embedded 76 image views of 44 images" in capsys.readouterr().out  # 32 train x 2 views + 12 val
    cfg = load_config(overrides={"backbone": "tinycnn", "weights": "none", "cache_views": 1, "phase1_epochs": 2})
    events = []
    run = train(colour_dataset, cfg, tmp_path / "run", progress=events.append)
    assert any(e.stage == "features" and e.message == "all features cached" for e in events)
    ray_entries = _entries(cache_root())
    monkeypatch.setenv("IMGCLF_CACHE_DIR", str(tmp_path / "local-cache"))
    assert main(["embed", str(colour_dataset), *settings]) == 0  # the local engine, for comparison
    local_entries = _entries(cache_root())
    assert set(ray_entries) == set(local_entries) and len(ray_entries) == 76 * 2  # pooled + cut activations
    for key, value in ray_entries.items():
        if "/view0/" in key:  # the clean view is deterministic: same numbers; augmented views are random draws
            np.testing.assert_allclose(value, local_entries[key], atol=2e-3, rtol=1e-2)
    assert (run / "model.keras").is_file()


def _entries(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): np.load(p) for p in (root / "features").rglob("*.npy")}


def test_actor_sizing_and_flags():
    assert parse_actors("3") == (3, 3) and parse_actors("1:4") == (1, 4)
    for bad in ("0", "4:2", "two", "1:"):
        with pytest.raises(ScaleError, match=repr(bad)):
            parse_actors(bad)
    assert actor_cpus(RayOptions(actors=(1, 1)), 2.0) == (1.0, None)
    share, note = actor_cpus(RayOptions(actors=(1, 4), cpus_per_actor=1.0), 4.0)
    assert share == 0.75 and "starve the read tasks" in note
    assert actor_cpus(RayOptions(actors=(1, 4), gpus_per_actor=1.0), 4.0) == (1.0, None)
    assert block_count(13, RayOptions(actors=(2, 2), batch_size=16)) == 2  # one block per actor at least
    assert block_count(10**7, RayOptions(batch_size=32)) == 4096 and block_count(100, RayOptions(batch_size=32)) == 4


def test_ray_engine_needs_a_file_output(tiny_run, images, capsys):
    assert main(["predict", str(tiny_run), str(images), "--engine", "ray"]) == 2
    assert main(["predict", str(tiny_run), str(images), "--resume"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        "--output FILE.csv" in err[0]
        and "--resume" in err[1]
        and all(e.startswith("imgclf predict: error") for e in err)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ray_start_cluster_through_ray_address(tiny_run, images, local_csv, tmp_path):
    """A real 'ray start --head' cluster with token authentication, reached through RAY_ADDRESS; the job's driver
    never loads TensorFlow (seconds and 600 MB of memory that only the actors need)."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "imgclf-test-" + "0" * 20, "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = [ray_bin, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1"]
    log = (tmp_path / "head.log").open("w")
    cluster = subprocess.Popen(
        [*head, "--num-cpus", "2", "--include-dashboard", "false"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "head.log", "block forever", cluster)
        out = tmp_path / "cluster.csv"
        cli = [sys.executable, "-c", CLI, "predict", str(tiny_run), str(images), "--output", str(out)]
        done = subprocess.run([*cli, "--engine", "ray"], env={**env, "RAY_ADDRESS": f"127.0.0.1:{port}"},
                              capture_output=True, text=True, timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert "TensorFlow loaded: False" in done.stdout
        local = _rows(local_csv)
        assert {p: r["label"] for p, r in _rows(out).items()} == {p: local[p]["label"] for p in _rows(out)}
        no_token = {k: v for k, v in env.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
        no_token |= {"RAY_AUTH_MODE": "token", "HOME": str(tmp_path)}
        refused = subprocess.run([*cli, "--engine", "ray", "--ray-address", f"127.0.0.1:{port}"], env=no_token,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert refused.returncode == 2 and "token" in refused.stderr and "Traceback" not in refused.stderr
        assert "TensorFlow loaded: False" in refused.stdout
    finally:
        _stop(cluster)
        log.close()


def _stop(head: subprocess.Popen) -> None:
    """Stop the 'ray start' process alone, which drains the node and stops the processes it started, then kill
    whatever is left of the session it runs in (the test started it: nothing else is in it). Signalling the whole
    session at once stops the GCS first, and the head then waits 30 s for it to drain the node."""
    head.terminate()
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    with contextlib.suppress(ProcessLookupError):  # none left: the usual case
        os.killpg(head.pid, signal.SIGKILL)


def _wait_for(log: Path, text: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"'ray start --head' did not come up:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
