"""A quiet, quick CLI: light commands never import TensorFlow, TensorFlow's own log lines stay off the terminal
unless ``--verbose``, and an unexpected error is one line, not a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import imgclf
from data_helpers import make_dataset
from imgclf.cli.main import main
from imgclf.quiet import is_tensorflow_log

SRC = Path(imgclf.__file__).resolve().parents[1]
# What TensorFlow prints on its own: absl/tsl log records, absl's pre-init warning, CPU and CUDA notices.
TF_NOISE = re.compile(r"^[IWEF]\d{4} |oneDNN|absl|cuda|cuDNN|This TensorFlow binary|tensorflow/", re.MULTILINE)
PROBE = """
import sys
from imgclf.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("LOADED", sorted({"tensorflow", "keras", "scipy"} & set(sys.modules)), "EXIT", code)
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``python -c CODE ARGS`` with imgclf's sources first on the path; ``env`` replaces os.environ."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def _imgclf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``imgclf ARGS`` with oneDNN on (it prints its notice on any CPU) and no log level chosen by the user."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return _python(
        "from imgclf.cli.main import main; raise SystemExit(main())",
        *args,
        env={**env, "TF_ENABLE_ONEDNN_OPTS": "1"},
        cwd=cwd,
    )


def test_importing_imgclf_and_building_the_parser_does_not_load_tensorflow() -> None:
    modules = [
        "imgclf.config",
        "imgclf.models.registry",
        *(f"imgclf.data.{m}" for m in ("check", "layout", "decode", "report")),
        "imgclf.scale.predict",  # what a Ray read task imports (read_batch): only the actors load the model
    ]
    code = (
        "import importlib, sys, imgclf\n"
        "from imgclf.cli.main import COMMANDS, build_parser\n"
        f"for name in {modules!r} + [f'imgclf.cli.commands.{{c}}' for c in COMMANDS]:\n"
        "    importlib.import_module(name)\n"
        "build_parser()\n"
        "from imgclf.models.registry import REGISTRY\n"
        "print([spec.builder_path for spec in REGISTRY.values()][0], sorted(set(imgclf.__all__) - set(dir(imgclf))))\n"
        "print('LOADED', sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert "keras.applications.ResNet50 []" in done.stdout
    assert "LOADED []" in done.stdout


@pytest.mark.parametrize("command", [["--help"], ["backbones"], ["check", "DATA"], ["check", "--json", "DATA"]])
def test_light_commands_do_not_load_tensorflow(command: list[str], tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"ants": 3, "bees": 3}, "val": {"ants": 1, "bees": 1}})
    done = _python(PROBE, *[str(data) if arg == "DATA" else arg for arg in command])
    assert done.returncode == 0, done.stderr
    assert "LOADED [] EXIT 0" in done.stdout
    assert done.stderr == ""


def test_the_lazy_top_level_still_offers_every_name() -> None:
    assert set(imgclf.__all__) <= set(dir(imgclf))
    assert imgclf.load.__module__ == "imgclf.engine.predictor"
    assert imgclf.get_backbone("tinycnn").builder.__name__ == "TinyCNN"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = imgclf.nope


def test_predict_prints_no_tensorflow_line_unless_verbose(tiny_run: Path, tmp_path: Path) -> None:
    image = tiny_run.parent.parent / "data" / "test" / "red" / "red_0.png"
    quiet = _imgclf("predict", str(tiny_run), str(image), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert image.name in quiet.stdout
    assert not TF_NOISE.search(quiet.stderr), quiet.stderr
    assert "1 ok" in quiet.stderr or "1 uncertain" in quiet.stderr  # imgclf's own summary is kept
    loud = _imgclf("--verbose", "predict", str(tiny_run), str(image), cwd=tmp_path)
    assert loud.returncode == 0 and "oneDNN custom operations are on" in loud.stderr


def test_train_prints_no_tensorflow_line(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"ants": 4, "bees": 4}, "val": {"ants": 2, "bees": 2}})
    args = ["--backbone", "tinycnn", "--weights", "none", "--epochs", "1", "1", "--batch-size", "8"]
    done = _imgclf("train", str(data), "--out", str(tmp_path / "run"), *args, "--set", "cache_views=0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(str(tmp_path / "run"))
    assert not TF_NOISE.search(done.stderr), done.stderr
    assert "Traceback" not in done.stderr


FAKE_TENSORFLOW = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796030745.231421   26358 port.cc:153] oneDNN custom operations are on.\\n")
os.write(2, b"2026-01-30 22:44:42.456316: E external/local_xla/cuda_dnn.cc:8310] Unable to register cuDNN factory\\n")
os.write(2, b"a line of its own\\n")
if os.environ.get("FAIL"):
    raise ImportError("libcudart.so.12: cannot open shared object file")
import logging
def get_logger():
    return logging.getLogger("tensorflow")
"""


@pytest.mark.parametrize("fail", [False, True])
def test_quiet_import_drops_only_tensorflows_lines(tmp_path: Path, fail: bool) -> None:
    (tmp_path / "tensorflow.py").write_text(FAKE_TENSORFLOW, encoding="utf-8")
    code = "from imgclf.quiet import import_tensorflow_quietly; import_tensorflow_quietly()"
    done = _python(code, env={**os.environ, "PYTHONPATH": str(tmp_path), "FAIL": "1" if fail else ""})
    if not fail:
        assert done.returncode == 0 and done.stderr == "a line of its own\n"
    else:  # a failed import shows everything it printed, then the error
        assert done.returncode == 1
        assert "oneDNN custom operations are on" in done.stderr and "a line of its own" in done.stderr
        assert "ImportError: libcudart.so.12" in done.stderr


def test_tensorflow_log_lines_are_recognised() -> None:
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796030187.856368    6316 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.",
        "W0130 22:44:42.456316   12345 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
        "2026-01-30 22:44:42.456316: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.",
    ]
    ours = ["note: this run is not calibrated; run 'imgclf evaluate' to get a threshold.", "3 ok", "I0000 is a label"]
    assert all(map(is_tensorflow_log, noise))
    assert not any(map(is_tensorflow_log, ours))


@pytest.mark.parametrize(
    ("argv", "user_level", "child_level", "child_verbose"),
    [
        (["app", "--runs", "RUNS"], None, "3", False),
        (["app", "--runs", "RUNS"], "1", "1", False),  # a level the user chose is kept
        (["--verbose", "app", "--runs", "RUNS"], None, None, True),
        (["app", "--runs", "RUNS", "--verbose"], None, None, True),
    ],
)
def test_the_app_child_gets_the_same_quiet_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], user_level, child_level, child_verbose
) -> None:
    import imgclf.cli.commands.app as app

    if user_level is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", user_level)
    seen = {}

    def become(command: list[str]) -> int:  # instead of exec'ing Streamlit: what its process would inherit
        seen.update(command=command, level=os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
        return 0

    monkeypatch.setattr(app, "serve_forever", become)
    assert main([str(tmp_path) if arg == "RUNS" else arg for arg in argv]) == 0
    assert seen["level"] == child_level
    script_args = seen["command"][seen["command"].index("--") + 1 :]
    assert script_args[:2] == ["--runs", str(tmp_path.resolve())]
    assert ("--verbose" in script_args) is child_verbose


def test_unexpected_error_is_one_line_and_verbose_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import imgclf.models.registry as registry

    def broken() -> list:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(registry, "list_backbones", broken)
    assert main(["backbones"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("imgclf backbones: error: unexpected RuntimeError: registry exploded\n")
    assert "--verbose" in err and "Traceback" not in err
    for argv in (["--verbose", "backbones"], ["backbones", "--verbose"]):
        with pytest.raises(RuntimeError, match="registry exploded"):
            main(argv)


def test_an_os_error_is_a_clear_message(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tiny_run.parent.parent / "data" / "test" / "red" / "red_0.png"
    out = tmp_path / "missing" / "overlay.png"
    assert main(["explain", str(tiny_run), str(image), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgclf explain: error: ") and str(out) in err and "Traceback" not in err


def test_an_unknown_backbone_is_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"ants": 2, "bees": 2}, "val": {"ants": 1, "bees": 1}})
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--backbone", "resnet5"]) == 2
    err = capsys.readouterr().err
    assert "imgclf train: error: Unknown backbone 'resnet5'. Did you mean 'resnet50'?" in err
