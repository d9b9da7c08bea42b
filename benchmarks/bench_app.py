"""The app process: peak memory and the time to classify one uploaded image, with and without Grad-CAM.

The app's own scripts run in this process through Streamlit's ``AppTest`` (no web server or browser): the
Classify page loads the run, then each new upload is timed. A rerun with the same upload (its analysis cached)
is timed too; the difference is the classification step (decode, forward or Grad-CAM, display image).

``python -m benchmarks.bench_app RUN IMAGE [IMAGE...]``  (at least 3 JPEG/PNG files)
"""

from __future__ import annotations

import argparse
import mimetypes
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import emit, peak_rss_mib

__all__ = ["main"]

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[1] / "src" / "imgclf" / "app" / "main.py"


def _timed_run(app: AppTest) -> float:
    start = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - start
    if app.exception:
        raise RuntimeError(f"the app failed: {app.exception[0].value}")
    return seconds


def _upload(app: AppTest, path: Path) -> None:
    app.file_uploader(key="uploads").set_value(
        (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "image/jpeg")
    )


def _mode(app: AppTest, images: list[Path]) -> dict[str, float]:
    """Median seconds of a rerun after a new upload, and of a rerun with the same upload (cached analysis)."""
    fresh, cached = [], []
    for path in images:
        _upload(app, path)
        fresh.append(_timed_run(app))
        cached.append(_timed_run(app))
    new, same = statistics.median(fresh), statistics.median(cached)
    return {"rerun_new_upload_ms": new * 1000, "rerun_cached_ms": same * 1000, "classify_ms": (new - same) * 1000}


def main(argv: list[str] | None = None) -> int:
    """Measure and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("images", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if len(args.images) < 3:
        parser.error(f"need at least 3 images (one warm-up per mode, then timed uploads), got {len(args.images)}")

    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(MAIN), default_timeout=600)
    app.session_state["runs_dir"] = str(args.run.resolve().parent)
    app.session_state["model_choice"] = str(args.run.resolve())
    startup = _timed_run(app)  # loads the model, warms up the forward pass and traces Grad-CAM
    half = len(args.images) // 2
    heat, plain = args.images[1 : half + 1], args.images[half + 1 :] or args.images[1:2]
    _upload(app, args.images[0])
    _timed_run(app)  # warm-up with Grad-CAM (the app's default)
    gradcam = _mode(app, heat)
    app.sidebar.toggle(key="heatmap").set_value(False)
    _timed_run(app)  # warm-up without Grad-CAM
    forward = _mode(app, plain)
    emit(
        {
            "startup_s": startup,
            "with_gradcam": gradcam,
            "without_gradcam": forward,
            "uploads": len(heat) + len(plain),
            "peak_rss_mib": peak_rss_mib(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
