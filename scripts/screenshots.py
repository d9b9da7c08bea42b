"""Screenshots of every app page for the README: ``python scripts/screenshots.py --runs runs/``.

Starts ``imgclf app`` headless, drives Debian's Chromium (``/usr/bin/chromium``) with Playwright and writes
``docs/screenshots/{classify,model,dataset,train}.png``. Use a runs folder whose newest run is evaluated.
Fails when the app's log shows a traceback anywhere along the way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from imgclf.app.server import serve
from imgclf.data.samples import sample_dataset

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
TIMEOUT_MS = 180_000


def _unlike_the_classes(folder: Path) -> Path:
    """A photo of neither ants nor bees (scikit-image's cup of coffee), to show an 'unfamiliar' card."""
    from PIL import Image
    from skimage import data

    path = folder / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    return path


def _classify(page: Page, url: str, out: Path) -> None:
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.goto(url, wait_until="domcontentloaded")
    samples = sorted((sample_dataset() / "test").glob("*/*.jpg"))
    picks = [p for p in samples if p.parent.name == "bees"][:1] + [p for p in samples if p.parent.name == "ants"][:1]
    picks.append(_unlike_the_classes(Path(tempfile.mkdtemp(prefix="imgclf-screenshots-"))))
    page.locator("input[type=file]").first.set_input_files([str(p) for p in picks])
    page.get_by_text(f"{len(picks)} images:").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stImage"] img').nth(len(picks)).wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / "classify.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _model(page: Page, url: str, out: Path) -> None:
    page.set_viewport_size({"width": 1400, "height": 2600})  # Streamlit scrolls inside the page: grow the window
    page.goto(f"{url}/model", wait_until="domcontentloaded")
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(3000)
    page.screenshot(path=str(out / "model.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _dataset(page: Page, url: str, out: Path) -> None:
    page.goto(f"{url}/dataset", wait_until="domcontentloaded")
    page.get_by_role("button", name="Check dataset").click(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Train on this dataset").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(2000)
    page.screenshot(path=str(out / "dataset.png"), full_page=True)


def _train(page: Page, url: str, out: Path) -> None:
    page.goto(f"{url}/train", wait_until="domcontentloaded")
    page.get_by_role("button", name="Start training").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / "train.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder served by the app")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"), help="where the PNG files go")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="imgclf-screenshots-")) / "app.log"
    with serve(args.runs, timeout=180, log=log) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for shoot in (_classify, _model, _dataset, _train):
            shoot(page, url, args.out)
            print(f"wrote {args.out / (shoot.__name__.lstrip('_') + '.png')}")
        browser.close()
    if "Traceback" in log.read_text():
        sys.exit(f"The app logged a traceback; see {log}")
    print(f"The app log ({log}) shows no traceback.")


if __name__ == "__main__":
    main()
