"""End to end in a real browser: `imgclf app` headless, Debian's Chromium driven by Playwright.

Covers what only a browser shows: uploads kept across page visits, the Train form kept after Cancel and
after a finished run, nothing fetched from outside the app (the tab icon included), no traceback in the log.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import make_dataset
from imgclf.app.server import serve

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
LONG = 120_000
# Counts the app's finished reruns (Streamlit marks its root "notRunning" at the end of each), so a test can wait
# for the rerun its action started rather than for a fixed time.
COUNT_RERUNS = """
window.imgclfReruns = 0;
new MutationObserver((records) => {
  for (const record of records) {
    if (record.target.getAttribute("data-test-script-state") === "notRunning") window.imgclfReruns += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]


@pytest.fixture(scope="module")
def app_server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """One `imgclf app` for the module (runs: the tiny run's folder), its data root, and its log.

    The whole log is checked for tracebacks once the app has stopped (each test also checks it as it goes).
    """
    root = tmp_path_factory.mktemp("browser")
    runs, data = root / "runs", root / "data-root"
    runs.mkdir()
    data.mkdir()
    (runs / "tiny").symlink_to(tiny_run, target_is_directory=True)
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "browser-app.log"
    with serve(runs, data=[data], log=log) as url:
        yield url, data, log
    assert "Traceback" not in log.read_text(), "the app log shows no traceback"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (one browser for the module; a new context per test)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def browser_page(app_server, chromium) -> Iterator[tuple[object, str, list[str], Path]]:
    """A page in a fresh browser context (a new app session), its requests, and the app's data root."""
    url, data, log = app_server
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(COUNT_RERUNS)
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Classify", exact=True).first.wait_for(timeout=60_000)
        yield page, url, requests, data
    finally:
        context.close()
    assert "Traceback" not in log.read_text(), "the app log shows no traceback"


def _upload(page, image: Path) -> None:
    page.locator("input[type=file]").first.set_input_files(str(image), timeout=LONG)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=LONG)


def _go(page, title: str) -> None:
    _rerun(page, page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click)


def test_upload_is_classified_kept_across_pages_and_nothing_is_fetched_from_outside(browser_page, tmp_path) -> None:
    from PIL import Image

    page, url, requests, _ = browser_page
    image = tmp_path / "red.png"
    Image.new("RGB", (96, 96), (200, 40, 40)).save(image)
    _upload(page, image)
    metric = page.locator('[data-testid="stMetric"]').first
    assert "red" in metric.inner_text()
    heat = page.locator('[data-testid="stImage"] img').first
    heat.wait_for(timeout=30_000)
    assert heat.bounding_box()["width"] > 50
    page.screenshot(path=str(ARTIFACTS / "browser-classify.png"), full_page=True)
    _go(page, "Settings")
    page.get_by_text("Generative AI").wait_for(timeout=LONG)
    _go(page, "Classify")
    page.get_by_text("1 image: 1 confident").wait_for(timeout=LONG)  # the upload and its result came back
    _upload(page, image)  # the same file again
    page.get_by_text("already in the list").first.wait_for(timeout=LONG)
    assert page.get_by_text("1 image: 1 confident").count() == 1
    outside = sorted({u for u in requests if not u.startswith((url, "data:", "blob:"))})
    assert outside == [], f"fetched from outside the app: {outside}"
    icon = page.locator("link[rel*=icon]").first.get_attribute("href")
    assert icon and not re.match(r"https?://(?!127\.0\.0\.1)", icon), icon


def _settle(page, label: str = "Phase 1 epochs (head)") -> None:
    """Wait until no rerun is in progress and the last one has dropped its stale elements (a second ``label``)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=LONG)
    for _ in range(240):
        if page.get_by_label(label, exact=True).count() <= 1:
            return
        page.wait_for_timeout(250)


def _rerun(page, action: Callable[[], object], label: str = "Phase 1 epochs (head)") -> None:
    """Do ``action``, which makes the app rerun, wait until that rerun has finished, then :func:`_settle`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = page.evaluate("window.imgclfReruns")
    action()
    with contextlib.suppress(PlaywrightTimeout):  # not seen finishing: _settle's checks still apply
        page.wait_for_function("n => window.imgclfReruns > n", arg=before, timeout=10_000)
    _settle(page, label)


def _fill(page, label: str, value: str) -> None:
    _settle(page, label)
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    _rerun(page, lambda: box.press("Enter"))


def _form(page) -> dict[str, object]:
    """The Train form's values, once the page has settled (a rerun briefly shows the old elements too)."""
    _settle(page)
    return {
        "folder": page.get_by_label("Dataset folder", exact=True).input_value(),
        "backbone": page.get_by_role("combobox", name="Backbone").input_value(),
        "p1": page.get_by_label("Phase 1 epochs (head)", exact=True).input_value(),
        "p2": page.get_by_label("Phase 2 epochs (fine-tune)", exact=True).input_value(),
        "pretrained": page.get_by_label("Start from ImageNet weights", exact=True).is_checked(),
        "name": page.get_by_label("Run name", exact=True).input_value(),
    }


def test_train_form_is_kept_after_cancel_and_after_a_finished_run(browser_page) -> None:
    page, _, _, data_root = browser_page
    make_dataset(data_root / "data", counts={"train": 8, "val": 4})
    _go(page, "Train")
    _rerun(page, page.get_by_text("Folder", exact=True).click, "Dataset folder")
    _fill(page, "Dataset folder", "data")
    page.get_by_role("combobox", name="Backbone").click()
    _rerun(page, page.get_by_role("option", name="tinycnn").click)
    _fill(page, "Phase 1 epochs (head)", "500")
    _fill(page, "Phase 2 epochs (fine-tune)", "0")  # no fine-tuning: the quickest run that finishes
    _fill(page, "Run name", "browser run")
    chosen = _form(page)
    assert chosen["backbone"] == "tinycnn" and chosen["pretrained"] is False
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"phase1: \d+/500")).wait_for(timeout=LONG)
    page.get_by_role("button", name="Cancel training").click()
    page.get_by_text("Cancelled, partial run kept.").wait_for(timeout=LONG)
    assert _form(page) == chosen, "the form kept what the user chose after Cancel"
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    page.get_by_role("button", name="Delete the partial run").click()
    page.get_by_text("Cancelled, partial run kept.").wait_for(state="detached", timeout=LONG)
    _fill(page, "Phase 1 epochs (head)", "3")
    chosen = _form(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"^Done: browser-run is right on")).wait_for(timeout=LONG)
    assert _form(page) == chosen, "the form kept what the user chose after the run"
    page.get_by_text("browser-run-2").first.wait_for(timeout=10_000)  # the caption names the next run
    page.screenshot(path=str(ARTIFACTS / "browser-train.png"), full_page=True)
