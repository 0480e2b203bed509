"""The web tool end to end in real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; no browser download): paint, edit, save a vector, move its slider, see the image change;
the first screen, asking before a painting is discarded, the edited view (large, segmentation,
before/after on the stage, zoom, downloads), slider ranges from the default scale, a vector deleted
in another tab, the layout at 1024 and 1280 px, the upload's crop notice and reconstruction, and
an upload with a bundle's embedding defaults (pivotal tuning, the fidelity panel, G′ against G).

Skipped when chromium or playwright is missing, unless EDITGAN_REQUIRE_BROWSER=1 (CI), which
turns that into a failure. Screenshots go to outputs/test-artifacts/.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from app_fixtures import labels_array, png_array, tiny_editor
from browser_fixtures import grid_to_screen, open_page, served_page, stroke
from editgan.app import create_app
from editgan.app.runner import BackgroundServer
from editgan.edit.vectors import EditingVector
from editgan.io.images import to_uint8

ARTIFACTS = Path(__file__).resolve().parents[1] / "outputs" / "test-artifacts"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    editor = tiny_editor(tmp_path_factory.mktemp("web"))
    with served_page(create_app(editor)) as page:
        page.editor = editor
        yield page
        errors = page.editgan_errors
    assert not errors, errors


def labels(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.editgan.labels)"))


def original(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.editgan.original)"))


def displayed_pixels(page, selector) -> np.ndarray:
    """The pixels an <img> currently shows, read back through a canvas."""
    data = page.evaluate("""(sel) => { const img = document.querySelector(sel);
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        return Array.from(ctx.getImageData(0, 0, c.width, c.height).data); }""", selector)
    return np.array(data, dtype=np.uint8)


def test_first_screen(page):
    """Nothing to download yet; the first brush is a small part (mouth), not skin; no edit to compare."""
    assert page.evaluate("window.editgan.current") == 2
    assert page.locator("#palette li.current").text_content().strip() == "mouth"
    for link in ("#dl-edited", "#dl-edited-x4", "#dl-mask", "#dl-mask-colour", "#dl-painted", "#dl-painted-colour"):
        assert page.get_attribute(link, "href") is None and page.get_attribute(link, "aria-disabled") == "true"
    assert page.is_disabled("#adopt-btn") and page.is_disabled("#compare-btn") and page.is_disabled("#seg-toggle")
    assert "all sliders at 0" in page.text_content("#applied-info")
    assert page.input_value("#edit-steps") == "100" and page.input_value("#refine-steps") == "30"  # the bundle's


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


def test_image_change_asks_before_discarding_a_painting(page):
    dialogs = []

    def answer(accept):
        def handle(dialog):
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        page.once("dialog", handle)

    page.click("button[data-tool=brush]")
    page.locator("#palette li", has_text="mouth").click()
    stroke(page, (6, 12), (20, 12))
    painted = labels(page)
    assert not np.array_equal(painted, original(page))
    answer(False)
    page.click("#sample-btn")
    assert "discards your painting" in dialogs[-1]
    np.testing.assert_array_equal(labels(page), painted)  # kept
    answer(True)
    page.fill("#seed", "0")
    page.click("#sample-btn")
    page.wait_for_function("window.editgan.labels.every((v, i) => v === window.editgan.original[i])")
    assert len(dialogs) == 2 and page.text_content("#status") == "sampled seed 0"
    page.click("#sample-btn")  # nothing painted: no question
    page.wait_for_function("document.querySelector('#status').textContent === 'sampled seed 0'")
    assert len(dialogs) == 2


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
    check_edited_view(page)
    page.fill("#vector-name", "wider_mouth")
    page.click("#save-btn")
    slider = page.locator("#library li[data-name=wider_mouth] input[type=range]")
    slider.wait_for()
    assert page.editor.library.list() == ["wider_mouth"]
    page.wait_for_function("(() => { const t = document.querySelectorAll('#library li[data-name=wider_mouth] img.thumb');"
                           " return t.length === 2 && [...t].every((i) => i.complete && i.naturalWidth === 32); })()")

    assert page.get_attribute(f"{slider_of('wider_mouth')}", "min") == "-2" and page.get_attribute(slider_of("wider_mouth"), "max") == "2"
    assert page.input_value(slider_of("wider_mouth")) == "0"
    page.click("#zero-btn")
    page.wait_for_function("document.querySelector('#applied-info').textContent.includes('all sliders at 0')")
    unedited = displayed_pixels(page, "#applied")
    page.click("#library li[data-name=wider_mouth] button.default")  # the vector's default scale, 1
    page.wait_for_function("document.querySelector('#applied-info').textContent.includes('wider_mouth ×1')")
    assert page.text_content("#library li[data-name=wider_mouth] .scale") == "1.00"
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

    page.click("#adopt-btn")  # continue from the image in the edited view: it is now the one to paint on
    page.wait_for_function("document.querySelector('#source').textContent === 'edited seed 0'")
    np.testing.assert_array_equal(original(page), page.editor.segment(w)[0].numpy().ravel())
    assert page.text_content("#library li[data-name=wider_mouth] .scale") == "0.00"


def slider_of(name: str) -> str:
    return f"#library li[data-name={name}] input[type=range]"


def check_edited_view(page):
    """After an edit: the edited view shows its result large, with the edited segmentation on demand;
    the stage flips between original and edited; downloads are live, coloured and enlarged; zoom."""
    assert page.get_attribute("#applied", "src") == page.get_attribute("#after", "src")
    assert "edit result" in page.text_content("#applied-info")
    assert page.locator("#applied").bounding_box()["width"] >= 256
    result = page.request.get(page.url.rstrip("/") + page.evaluate("sessionPath('/result')")).json()
    edited_labels = labels_array(result["labels_after"], (32, 32))
    page.check("#seg-toggle")
    page.wait_for_function("!document.querySelector('#applied-seg').hidden && document.querySelector('#applied-seg').complete")
    colours = np.array([l["color"] for l in page.evaluate("window.editgan.info.labels")], dtype=np.uint8)
    np.testing.assert_array_equal(displayed_pixels(page, "#applied-seg").reshape(32, 32, 4)[..., :3], colours[edited_labels])
    page.uncheck("#seg-toggle")
    assert page.is_hidden("#applied-seg")

    page.click("#compare-btn")
    assert page.get_attribute("#image", "src") == result["after"] and page.get_attribute("#stage", "data-view") == "edited"
    page.click("#compare-btn")
    assert page.get_attribute("#image", "src") != result["after"] and page.get_attribute("#stage", "data-view") == "original"

    base = page.url.rstrip("/")
    for link in ("#dl-edited", "#dl-mask-colour", "#dl-painted-colour"):
        assert page.get_attribute(link, "aria-disabled") == "false"
    coloured = png_array(page.request.get(base + page.get_attribute("#dl-mask-colour", "href")).body())
    np.testing.assert_array_equal(coloured, colours[edited_labels].repeat(4, axis=0).repeat(4, axis=1))
    assert png_array(page.request.get(base + page.get_attribute("#dl-edited-x4", "href")).body()).shape == (128, 128, 3)

    view = page.locator("#viewport").bounding_box()
    page.click("#zoom-in")
    page.click("#zoom-in")
    assert page.text_content("#zoom-value") == "200%"
    assert abs(page.locator("#stage").bounding_box()["width"] - 2 * page.evaluate("document.querySelector('#viewport').clientWidth")) < 2
    page.mouse.move(view["x"] + 50, view["y"] + 50)
    page.keyboard.down("Control")
    page.mouse.wheel(0, 100)  # Ctrl+wheel: one step out
    page.keyboard.up("Control")
    page.wait_for_function("document.querySelector('#zoom-value').textContent === '150%'")
    page.click("#zoom-fit")
    assert page.text_content("#zoom-value") == "100%" and page.locator("#viewport").bounding_box() == view


def test_continue_from_the_edit_result(page):
    """Continue takes the image the edited view shows: right after an edit, the edit's result."""
    page.locator("#palette li", has_text="mouth").click()
    stroke(page, (8, 24), (24, 24))
    page.fill("#edit-steps", "3")
    page.click("#edit-btn")
    page.wait_for_function("document.querySelector('#applied-info').textContent.startsWith('edit result')", timeout=60_000)
    result = page.request.get(page.url.rstrip("/") + page.evaluate("sessionPath('/result')")).json()
    page.click("#adopt-btn")
    page.wait_for_function("document.querySelector('#status').textContent === 'continuing from the edited image'")
    np.testing.assert_array_equal(original(page), labels_array(result["labels_after"], (32, 32)).ravel())
    assert page.get_attribute("#image", "src") == result["after"]  # the same render of the same w+


@pytest.mark.parametrize("width, height", [(1280, 800), (1024, 768)])
def test_canvas_and_edited_image_side_by_side(page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.click("#library li[data-name=wider_mouth] button.default")  # an edited image to show
    page.wait_for_function("document.querySelector('#applied-info').textContent.includes('wider_mouth ×1')")
    try:
        page.evaluate("window.scrollTo(0, 0)")
        for selector in ("#viewport", "#applied", "#edit-btn"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] >= 0 \
                and box["y"] + box["height"] <= height, (selector, box)
        stage, applied = page.locator("#viewport").bounding_box(), page.locator("#applied").bounding_box()
        assert stage["width"] >= 400 and applied["width"] >= 240 and applied["x"] > stage["x"] + stage["width"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"web-{width}.png"))
    finally:
        page.set_viewport_size({"width": 1400, "height": 950})
        page.click("#zero-btn")


def test_vector_deleted_in_another_tab(page):
    """Tab B deletes a vector; tab A's next slider move drops that slider with a notice and goes on.
    Tab B also starts with the label last used in tab A, and shows a shipped vector locked."""
    library = page.editor.library
    EditingVector(delta=library.get("wider_mouth").delta, name="other").save(library.directory)
    page.evaluate("loadLibrary()")
    page.locator(slider_of("other")).wait_for()
    page.locator("#palette li", has_text="skin").click()

    tab = page.context.new_page()
    tab.route("**/api/vectors", lambda route: route.fulfill(
        response=route.fetch(), json={**(listed := route.fetch().json()),
                                      "vectors": [{**v, "shipped": v["name"] == "other"} for v in listed["vectors"]]}))
    tab.goto(page.url)
    tab.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert tab.evaluate("window.editgan.current") == 1  # skin, remembered from the other tab
    assert tab.locator("#library li[data-name=other] .lock").is_visible()
    assert tab.locator("#library li[data-name=other] .delete").count() == 0
    assert tab.locator("#library li[data-name=wider_mouth] .delete").count() == 1
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.click("#library li[data-name=wider_mouth] .delete")
    tab.locator("#library li[data-name=wider_mouth]").wait_for(state="detached")
    tab.close()

    page.click("#upload-btn")  # an error first: no file chosen
    assert page.get_attribute("#status", "class") == "error"
    page.locator(slider_of("wider_mouth")).focus()
    page.keyboard.press("End")
    page.locator("#library li[data-name=wider_mouth]").wait_for(state="detached")
    page.wait_for_function("!window.editgan.applying && !window.editgan.pending")
    assert "wider_mouth no longer exists" in page.text_content("#status")
    assert page.get_attribute("#status", "class") != "error" and "wider_mouth" not in page.evaluate("window.editgan.scales")
    page.click("#upload-btn")
    assert page.get_attribute("#status", "class") == "error"
    page.locator(slider_of("other")).focus()
    page.keyboard.press("End")  # a later success clears the error
    page.wait_for_function("document.querySelector('#applied-info').textContent.includes('other ×2')")
    assert page.text_content("#status") == "" and page.get_attribute("#status", "class") != "error"
    page.click("#zero-btn")


def test_upload_embeds_with_progress_and_cancels(page, tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (48, 40), (180, 120, 90)).save(path)
    assert not page.is_checked("#tune") and page.is_disabled("#tune-steps")  # this bundle does not tune
    page.set_input_files("#upload-file", str(path))
    page.fill("#embed-steps", "4")
    page.click("#upload-btn")
    page.wait_for_function("document.querySelector('#source').textContent === 'upload photo.png'", timeout=60_000)
    assert page.text_content("#status") == "embedding: done" and page.is_hidden("#job")
    assert len(original(page)) == 32 * 32 and np.array_equal(labels(page), original(page))
    assert "48×40; only its centre 40×40 is used" in page.text_content("#upload-note")  # the crop is said
    assert page.is_visible("#upload-compare") and page.get_attribute("#reconstruction", "src") == page.get_attribute("#image", "src")
    assert page.text_content("#fidelity-reconstruction").startswith("PSNR ") and page.is_hidden("#fidelity-pivot")
    assert page.is_hidden("#pivot-figure") and page.is_hidden("#tuned-row") and page.is_hidden("#fidelity-warning")
    assert page.evaluate("[document.querySelector('#upload-preview').width, document.querySelector('#upload-preview').height]") == [48, 40]
    page.fill("#embed-steps", "2000")
    page.click("#upload-btn")
    # at once: the progress row, the old image dimmed with a note
    assert page.is_visible("#job") and page.text_content("#job-label") in ("uploading", "embedding")
    assert "busy" in page.get_attribute("#stage", "class") and page.is_visible("#stage-note")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('embedding: ')")
    page.wait_for_function("document.querySelector('#job-progress').value > 0")
    page.click("#cancel-btn")
    page.wait_for_function("document.querySelector('#status').textContent === 'embedding: cancelled'")
    assert page.is_hidden("#job") and page.text_content("#source") == "upload photo.png"
    assert "busy" not in page.get_attribute("#stage", "class") and page.is_hidden("#upload-compare")
    page.set_input_files("#upload-file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"})
    page.click("#upload-btn")
    page.wait_for_function("document.querySelector('#status').classList.contains('error')")
    assert "notes.png: not an image file" in page.text_content("#status")


def test_upload_on_a_fresh_page_with_the_bundles_defaults(page, tmp_path):
    """Untouched fields start at the bundle's embedding settings (here faithful: W+ then pivotal
    tuning), the job goes through both phases, the fidelity panel shows both reconstructions and
    the bundle's warning, and "edit with G′" switches the image being edited to the W+ pivot and back."""
    editor = tiny_editor(tmp_path, embedding={"preset": "faithful", "steps": 4, "tune_steps": 3},
                         fidelity={"psnr_floor": 99.0, "perceptual_ceiling": 0.0})
    path = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (40, 200, 90)).save(path)
    app = create_app(editor)
    with BackgroundServer(app) as url:
        fresh = open_page(page.context.browser, url)
        assert fresh.input_value("#embed-steps") == "4" and fresh.is_checked("#tune")
        assert fresh.input_value("#tune-steps") == "3" and fresh.is_hidden("#upload-compare")
        phases = []
        fresh.on("console", lambda m: phases.append(m.text))
        fresh.evaluate("""new MutationObserver(() => console.log(document.querySelector('#job-label').textContent))
                          .observe(document.querySelector('#job-label'), {childList: true})""")
        fresh.set_input_files("#upload-file", str(path))
        fresh.click("#upload-btn")
        fresh.wait_for_function("document.querySelector('#source').textContent === 'upload photo.png'", timeout=60_000)
        assert fresh.text_content("#status") == "embedding: done" and {"embedding", "tuning"} <= set(phases)
        assert fresh.is_visible("#fidelity") and fresh.is_visible("#pivot-figure") and fresh.is_checked("#tuned-toggle")
        assert fresh.text_content("#fidelity-reconstruction").startswith("tuned (3 steps): PSNR ")
        assert fresh.text_content("#fidelity-pivot").startswith("W+ pivot (4 steps): PSNR ")
        assert "far from anything the generator draws" in fresh.text_content("#fidelity-warning")
        assert fresh.get_attribute("#reconstruction", "src") == fresh.get_attribute("#image", "src")
        assert "editing" in fresh.get_attribute("#reconstruction-figure", "class")
        session = app.state.service.sessions.get(fresh.evaluate("window.editgan.session"))
        tuned = to_uint8(session.tuned.render(session.wplus))[0]
        np.testing.assert_array_equal(displayed_pixels(fresh, "#image").reshape(32, 32, 4)[..., :3], tuned)

        fresh.uncheck("#tuned-toggle")
        fresh.wait_for_function("document.querySelector('#status').textContent === 'editing the W+ pivot (G)'")
        pivot = to_uint8(editor.render(session.wplus))[0]
        np.testing.assert_array_equal(displayed_pixels(fresh, "#image").reshape(32, 32, 4)[..., :3], pivot)
        assert "editing" in fresh.get_attribute("#pivot-figure", "class") and fresh.is_visible("#fidelity")
        fresh.check("#tuned-toggle")
        fresh.wait_for_function("document.querySelector('#status').textContent.startsWith('editing the tuned')")
        np.testing.assert_array_equal(displayed_pixels(fresh, "#image").reshape(32, 32, 4)[..., :3], tuned)
        fresh.context.close()
    assert not fresh.editgan_errors, fresh.editgan_errors


def test_run_edit_on_a_fresh_page_with_the_bundles_defaults(page, tmp_path):
    """Every numeric field starts at the bundle's editing settings (/api/info defaults); painting and
    clicking Run edit without touching them runs an edit of the bundle's steps that completes."""
    editor = tiny_editor(tmp_path, editing={"steps": 4, "refine_steps": 3})
    app = create_app(editor)
    with BackgroundServer(app) as url:
        fresh = open_page(page.context.browser, url)
        assert fresh.input_value("#edit-steps") == "4" and fresh.input_value("#refine-steps") == "3"
        steps = []
        fresh.on("request", lambda r: steps.append(r.post_data_json.get("steps")) if r.url.endswith("/edit") else None)
        fresh.locator("#palette li", has_text="mouth").click()
        stroke(fresh, (8, 20), (24, 20))
        fresh.click("#edit-btn")
        fresh.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert "edit: done" in fresh.text_content("#status") and steps == [4]
        fresh.context.close()
    assert not fresh.editgan_errors, fresh.editgan_errors


def test_a_scheme_change_reaches_the_edit_tab(page, tmp_path):
    """Rename "mouth" to "lips" and add "freckles" in the Annotate tab: the Edit tab's palette shows
    both at once, "freckles" greyed out with the note that the segmenter needs retraining, and an
    edit of the renamed part runs."""
    editor = tiny_editor(tmp_path)
    with BackgroundServer(create_app(editor)) as url:
        fresh = open_page(page.context.browser, url)
        fresh.click("#modes [data-mode=annotate]")
        fresh.wait_for_selector("#scheme-list li >> nth=2")
        fresh.fill("#scheme-list li >> nth=2 >> input.name", "lips")
        fresh.click("#scheme-add-btn")
        fresh.fill("#scheme-list li >> nth=3 >> input.name", "freckles")
        fresh.click("#scheme-save-btn")
        fresh.wait_for_function("document.querySelector('#status').textContent.startsWith('label scheme saved; "
                                "the segmenter predates label(s) \\'freckles\\'')")
        fresh.click("#modes [data-mode=edit]")
        names = fresh.eval_on_selector_all("#palette li .name", "(els) => els.map((e) => e.textContent)")
        assert names == ["background", "skin", "lips", "freckles"]
        assert "unsegmented" in fresh.get_attribute("#palette li[data-index='3']", "class")
        assert fresh.is_visible("#scheme-note") and "'freckles'" in fresh.text_content("#scheme-note")
        fresh.locator("#palette li", has_text="freckles").click()  # not paintable: the brush keeps its label
        assert fresh.evaluate("window.editgan.current") == 2
        fresh.locator("#palette li", has_text="lips").click()
        stroke(fresh, (8, 20), (24, 20))
        fresh.fill("#edit-steps", "2")
        fresh.click("#edit-btn")
        fresh.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert "parts: lips" in fresh.text_content("#result-info")
        fresh.context.close()
    assert not fresh.editgan_errors, fresh.editgan_errors


def test_a_reloaded_or_evicted_tab_continues_from_its_image(page, tmp_path):
    """The tab keeps its image's w+, its painting and its undo history in sessionStorage: a reload
    shows the same image with the painting (undo steps back), and a session the server dropped meanwhile (evicted while idle) is replaced
    by a new one on the next request, which then goes through."""
    editor = tiny_editor(tmp_path)
    app = create_app(editor)
    with BackgroundServer(app) as url:
        fresh = open_page(page.context.browser, url)
        fresh.fill("#seed", "7")
        fresh.click("#sample-btn")
        fresh.wait_for_function("document.querySelector('#status').textContent === 'sampled seed 7'")
        fresh.locator("#palette li", has_text="mouth").click()
        stroke(fresh, (8, 20), (24, 20))
        mine = labels(fresh)
        image = fresh.get_attribute("#image", "src")
        fresh.reload()
        fresh.wait_for_selector("body[data-ready=true]")
        assert fresh.text_content("#status") == "restored this tab: continuing from seed 7"
        assert fresh.input_value("#seed") == "7" and fresh.get_attribute("#image", "src") == image
        np.testing.assert_array_equal(labels(fresh), mine)
        fresh.click("#undo-btn")  # the undo history came along
        np.testing.assert_array_equal(labels(fresh), original(fresh))
        fresh.click("#redo-btn")
        np.testing.assert_array_equal(labels(fresh), mine)

        old = fresh.evaluate("window.editgan.session")
        app.state.service.sessions.delete(old)  # what eviction of an idle tab does
        fresh.fill("#edit-steps", "2")
        fresh.click("#edit-btn")
        fresh.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert fresh.evaluate("window.editgan.session") != old and "edit: done" in fresh.text_content("#status")
        np.testing.assert_array_equal(labels(fresh), mine)
        fresh.context.close()
    assert not fresh.editgan_errors, fresh.editgan_errors


def test_api_docs_render_offline(page):
    docs = page.context.browser.new_page()
    docs.goto(page.url.split("#")[0].rstrip("/") + "/docs")
    docs.get_by_text("/api/sessions/{session_id}/apply", exact=True).first.wait_for(timeout=30_000)
    assert docs.locator(".opblock").count() >= 15
    docs.close()


def test_vector_rename_delete_and_status_per_tab(page, tmp_path):
    """Rename and delete a vector from its row, each confirmed in the status line; the Edit and
    Annotate tabs keep their own status lines; the first brush is a part the image has."""
    editor = tiny_editor(tmp_path)
    with BackgroundServer(create_app(editor)) as url:
        fresh = open_page(page.context.browser, url)
        current = fresh.evaluate("window.editgan.current")
        assert current > 0 and current in fresh.evaluate("Array.from(window.editgan.original)")
        fresh.locator("#palette li", has_text="mouth").click()
        stroke(fresh, (8, 20), (24, 20))
        fresh.fill("#edit-steps", "2")
        fresh.click("#edit-btn")
        fresh.wait_for_selector("#result:not([hidden])", timeout=60_000)
        fresh.fill("#vector-name", "first")
        fresh.click("#save-btn")
        fresh.locator("#library li[data-name=first]").wait_for()
        fresh.once("dialog", lambda dialog: dialog.accept("second"))
        fresh.click("#library li[data-name=first] button.rename")
        fresh.locator("#library li[data-name=second]").wait_for()
        assert fresh.text_content("#status") == "renamed vector first to second" and editor.library.list() == ["second"]
        fresh.once("dialog", lambda dialog: dialog.accept())
        fresh.click("#library li[data-name=second] button.delete")
        fresh.locator("#library li[data-name=second]").wait_for(state="detached")
        assert fresh.text_content("#status") == "deleted vector second" and editor.library.list() == []
        fresh.click("#modes [data-mode=annotate]")
        fresh.wait_for_function("document.querySelector('#status').textContent !== 'deleted vector second'")
        fresh.click("#modes [data-mode=edit]")
        assert fresh.text_content("#status") == "deleted vector second"
        fresh.context.close()
    assert not fresh.editgan_errors, fresh.editgan_errors


def test_layout_at_1024_by_800(page):
    """(Last: it leaves an unsaved edit result.) Before / after / difference at least at the model's resolution and at least 128 px, enlargeable;
    "Save as vector" in view without scrolling; the upload pair as large; nothing overflows."""
    page.set_viewport_size({"width": 1024, "height": 800})
    try:
        page.locator("#palette li", has_text="mouth").click()
        stroke(page, (8, 22), (24, 22))
        page.fill("#edit-steps", "2")
        page.click("#edit-btn")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('edit: done')", timeout=60_000)
        page.evaluate("window.scrollTo(0, 0)")
        for selector in ("#before", "#after", "#difference"):
            assert page.locator(selector).bounding_box()["width"] >= 128, selector
        save = page.locator("#save-btn").bounding_box()
        assert save["y"] + save["height"] <= 800 and save["x"] + save["width"] <= 1024, save
        page.click("#after")
        assert page.locator("#after").bounding_box()["width"] >= 250  # enlarged to the panel's width
        page.click("#after")
        page.evaluate("document.querySelector('#upload-compare').hidden = false")
        assert page.locator("#reconstruction-figure").bounding_box()["width"] >= 128
        page.evaluate("document.querySelector('#upload-compare').hidden = true")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1024
        overflowing = page.evaluate("""[...document.querySelectorAll('main:not([hidden]) .panel')]
            .filter((p) => p.scrollWidth > p.clientWidth + 1).map((p) => p.id || p.className)""")
        assert overflowing == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-1024x800.png"))
    finally:
        page.set_viewport_size({"width": 1400, "height": 950})
