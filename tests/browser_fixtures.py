"""Headless Chromium for the browser tests (Debian's /usr/bin/chromium driven by Playwright; no
browser download): skipped when either is missing, unless EDITGAN_REQUIRE_BROWSER=1 (CI), which
turns that into a failure."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from editgan.app.runner import BackgroundServer

CHROMIUM = os.environ.get("EDITGAN_CHROMIUM", "/usr/bin/chromium")


def browser_or_skip():
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem, sync_playwright = "the playwright package is not installed", None
    if problem is None and not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        problem = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is not None:
        if os.environ.get("EDITGAN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required (EDITGAN_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(problem)
    return sync_playwright


@contextmanager
def served_page(app, width=1400, height=950):
    """A page of the app served in the background, loaded and ready; page.editgan_errors collects its
    script errors (the caller asserts there are none)."""
    sync_playwright = browser_or_skip()
    with BackgroundServer(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu",
                                                                    "--disable-dev-shm-usage"])
        try:
            yield open_page(browser, url, width, height)
        finally:
            browser.close()


def open_page(browser, url, width=1400, height=950):
    """`url` in a new browser context (its tabs share it), loaded and ready; page.editgan_errors
    collects its script errors."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.editgan_errors = errors
    return page


def grid_to_screen(page, x, y, canvas="#overlay"):
    """Centre of label pixel (x, y) of a canvas showing a label map (one canvas pixel per label), in
    page coordinates."""
    box = page.locator(canvas).bounding_box()
    h, w = page.evaluate("(sel) => { const c = document.querySelector(sel); return [c.height, c.width]; }", canvas)
    return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def stroke(page, start, end, canvas="#overlay"):
    page.mouse.move(*grid_to_screen(page, *start, canvas))
    page.mouse.down()
    page.mouse.move(*grid_to_screen(page, *end, canvas), steps=10)
    page.mouse.up()
