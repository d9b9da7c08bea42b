"""End to end in a real browser: `imgclf app` headless, Debian's Chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.app.server import serve

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]


def test_upload_shows_prediction_and_heatmap(tiny_run: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    image = tmp_path / "red.png"
    Image.new("RGB", (96, 96), (200, 40, 40)).save(image)
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(tiny_run.parent, log=ARTIFACTS / "browser-app.log") as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_text("Classify", exact=True).first.wait_for(timeout=60_000)
            page.locator("input[type=file]").first.set_input_files(str(image))
            metric = page.locator('[data-testid="stMetric"]').first
            metric.wait_for(timeout=90_000)
            assert "red" in metric.inner_text()
            heat = page.locator('[data-testid="stImage"] img').first
            heat.wait_for(timeout=30_000)
            assert heat.bounding_box()["width"] > 50
            page.screenshot(path=str(ARTIFACTS / "browser-classify.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "browser-classify.png").stat().st_size > 10_000
