"""The review loop in a real browser, keyboard shortcuts included, with the app's log checked for tracebacks."""

from __future__ import annotations

import csv

import pytest

from imgclf.app.server import serve
from imgclf.data.corrections import CORRECTIONS_FILE
from review_case import ReviewCase
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]


def test_relabel_by_keyboard_retrain_and_compare(review_template: ReviewCase) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    data, run = review_template.fresh()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "browser-review.log"
    with serve(run.parent, log=log) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_text("Classify", exact=True).first.wait_for(timeout=60_000)
            page.get_by_role("link", name="Review").click()
            page.get_by_text("Relabel as red").first.wait_for(timeout=90_000)
            page.get_by_text("oops.png").first.wait_for(timeout=30_000)
            page.get_by_role("heading", name="Review").first.click(force=True)  # focus off the sidebar link
            page.keyboard.press("a")  # the "Relabel as red" shortcut
            page.get_by_text("relabel: train/blue/oops.png").first.wait_for(timeout=60_000)
            page.get_by_role("tab", name="Retrain and compare").click()
            page.get_by_role("button", name="Retrain with corrections").click()
            page.get_by_text("Retrained as first-reviewed").first.wait_for(timeout=300_000)
            page.get_by_text("Label changes between the runs").first.wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "browser-review.png"), full_page=True)
        finally:
            browser.close()
    with (data / CORRECTIONS_FILE).open(newline="") as fh:
        assert [(r["path"], r["new_label"], r["action"]) for r in csv.DictReader(fh)] == [
            ("train/blue/oops.png", "red", "relabel")
        ]
    assert (run.parent / "first-reviewed" / "eval" / "predictions.csv").is_file()
    assert "Traceback" not in log.read_text(errors="replace")
