"""The web tool end to end in real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; no browser download): paint, edit, save a vector, move its slider, see the image change.

Skipped when chromium or playwright is missing, unless EDITGAN_REQUIRE_BROWSER=1 (CI), which
turns that into a failure. A screenshot of the final page goes to outputs/test-artifacts/.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from app_fixtures import png_array, tiny_editor
from editgan.app import create_app
from editgan.app.runner import BackgroundServer
from editgan.io.images import to_uint8

CHROMIUM = os.environ.get("EDITGAN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "outputs" / "test-artifacts"


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


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_playwright = browser_or_skip()
    editor = tiny_editor(tmp_path_factory.mktemp("web"))
    with BackgroundServer(create_app(editor)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu",
                                                                    "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.editgan_errors = errors
        page.editor = editor
        yield page
        browser.close()
    assert not errors, errors


def labels(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.editgan.labels)"))


def original(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.editgan.original)"))


def grid_to_screen(page, x, y):
    """Centre of label pixel (x, y) in page coordinates."""
    box = page.locator("#overlay").bounding_box()
    h, w = page.evaluate("window.editgan.info.label_size")
    return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def stroke(page, start, end):
    page.mouse.move(*grid_to_screen(page, *start))
    page.mouse.down()
    page.mouse.move(*grid_to_screen(page, *end), steps=10)
    page.mouse.up()


def displayed_pixels(page, selector) -> np.ndarray:
    """The pixels an <img> currently shows, read back through a canvas."""
    data = page.evaluate("""(sel) => { const img = document.querySelector(sel);
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        return Array.from(ctx.getImageData(0, 0, c.width, c.height).data); }""", selector)
    return np.array(data, dtype=np.uint8)


def test_paint_tools(page):
    page.click("button[data-tool=brush]")
    page.locator("#palette li", has_text="mouth").click()
    page.locator("#brush-size").fill("3")
    before = original(page)
    stroke(page, (6, 12), (20, 12))
    painted = labels(page)
    changed = painted != before
    assert changed.any() and (painted[changed] == 2).all()
    assert (painted.reshape(32, 32)[12, 7:20] == 2).all()  # the stroke's row, end to end
    page.click("#undo-btn")
    np.testing.assert_array_equal(labels(page), before)
    page.click("#redo-btn")
    np.testing.assert_array_equal(labels(page), painted)
    page.click("button[data-tool=eraser]")
    stroke(page, (6, 12), (13, 12))
    erased = labels(page).reshape(32, 32)
    np.testing.assert_array_equal(erased[12, :12], before.reshape(32, 32)[12, :12])
    assert (erased[12, 15:20] == 2).all()
    page.click("button[data-tool=picker]")
    page.mouse.click(*grid_to_screen(page, 16, 12))
    assert page.evaluate("window.editgan.current") == 2 and page.evaluate("window.editgan.tool") == "brush"
    page.locator("#palette li", has_text="skin").click()
    page.click("button[data-tool=fill]")
    page.mouse.click(*grid_to_screen(page, 16, 12))
    components, _ = ndimage.label(erased == 2)  # 4-connected, like the page's fill
    expected = np.where(components == components[12, 16], 1, erased)
    np.testing.assert_array_equal(labels(page).reshape(32, 32), expected)
    page.click("#reset-btn")
    np.testing.assert_array_equal(labels(page), before)


def test_paint_edit_save_slide(page):
    page.click("button[data-tool=brush]")
    page.locator("#palette li", has_text="mouth").click()
    page.locator("#brush-size").fill("4")
    stroke(page, (8, 20), (24, 20))
    page.fill("#edit-steps", "5")
    page.click("#edit-btn")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert "parts: mouth" in page.text_content("#result-info")
    assert "edit: done" in page.text_content("#status")
    page.fill("#vector-name", "wider_mouth")
    page.click("#save-btn")
    slider = page.locator("#library li[data-name=wider_mouth] input[type=range]")
    slider.wait_for()
    assert page.editor.library.list() == ["wider_mouth"]
    page.wait_for_function("(() => { const t = document.querySelectorAll('#library li[data-name=wider_mouth] img.thumb');"
                           " return t.length === 2 && [...t].every((i) => i.complete && i.naturalWidth === 32); })()")

    page.wait_for_function("document.querySelector('#applied').complete && document.querySelector('#applied').naturalWidth > 0")
    unedited = displayed_pixels(page, "#applied")
    count = page.evaluate("window.editgan.latencies.length")
    slider.focus()
    page.keyboard.press("End")  # a real input event: the slider jumps to +2
    page.wait_for_function(f"window.editgan.latencies.length > {count} && !window.editgan.applying")
    assert page.text_content("#library li[data-name=wider_mouth] .scale") == "2.00"
    edited = displayed_pixels(page, "#applied")
    assert not np.array_equal(edited, unedited), "the displayed image did not change"
    w = page.editor.sample(0) + 2 * page.editor.library.get("wider_mouth").delta
    expected = to_uint8(page.editor.render(w))[0]
    np.testing.assert_array_equal(edited.reshape(32, 32, 4)[..., :3], expected)
    np.testing.assert_array_equal(png_array(page.request.get(page.evaluate("document.querySelector('#dl-edited').href")).body()),
                                  expected)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-e2e.png"))
    assert (ARTIFACTS / "web-e2e.png").stat().st_size > 0

    page.click("#adopt-btn")  # continue from the edited image: it is now the one to paint on
    page.wait_for_function("document.querySelector('#source').textContent === 'edited seed 0'")
    np.testing.assert_array_equal(original(page), page.editor.segment(w)[0].numpy().ravel())
    assert page.text_content("#library li[data-name=wider_mouth] .scale") == "0.00"


def test_upload_embeds_with_progress_and_cancels(page, tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (48, 40), (180, 120, 90)).save(path)
    page.set_input_files("#upload-file", str(path))
    page.fill("#embed-steps", "4")
    page.click("#upload-btn")
    page.wait_for_function("document.querySelector('#source').textContent === 'upload photo.png'", timeout=60_000)
    assert page.text_content("#status") == "embedding: done" and page.is_hidden("#job")
    assert len(original(page)) == 32 * 32 and np.array_equal(labels(page), original(page))
    page.fill("#embed-steps", "2000")
    page.click("#upload-btn")
    page.wait_for_function("document.querySelector('#job-progress').value > 0")
    page.click("#cancel-btn")
    page.wait_for_function("document.querySelector('#status').textContent === 'embedding: cancelled'")
    assert page.is_hidden("#job") and page.text_content("#source") == "upload photo.png"
    page.set_input_files("#upload-file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"})
    page.click("#upload-btn")
    page.wait_for_function("document.querySelector('#status').classList.contains('error')")
    assert "notes.png: not an image file" in page.text_content("#status")


def test_api_docs_render_offline(page):
    docs = page.context.browser.new_page()
    docs.goto(page.url.split("#")[0].rstrip("/") + "/docs")
    docs.get_by_text("/api/sessions/{session_id}/apply", exact=True).first.wait_for(timeout=30_000)
    assert docs.locator(".opblock").count() >= 15
    docs.close()
