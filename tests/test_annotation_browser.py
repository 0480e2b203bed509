"""The Annotate tab end to end in headless Chromium, on a tiny bundle with a label scheme and no
segmenter: sample a seed (all background without a segmenter), paint with brush, polygon, fill and
eraser, undo / redo by button and keys, number keys, zoom, pan and overlay opacity; autosave checked
through the API; suggestions and the Edit tab's image as samples; reopen and delete; the scheme
editor (add a label; removing one in use refused; the server's one-line refusal of a repeated
name); train a segmenter (tiny settings) and read its held-out IoU table; then the Edit tab segments
with the new segmenter and runs an edit, and new samples start from its prediction. Screenshots go
to the test's temporary folder, or to $EDITGAN_SCREENSHOTS (`EDITGAN_SCREENSHOTS=reports/web` refreshes
the committed ones).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from annotation_fixtures import new_domain
from app_fixtures import labels_array
from browser_fixtures import grid_to_screen, open_page, served_page, stroke
from edit_fixtures import SCHEME

from editgan.app import create_app
from editgan.app.runner import BackgroundServer

CANVAS = "#annot-canvas"
SIZE = (32, 32)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    editor, store = new_domain(tmp_path_factory.mktemp("annotate"))
    with served_page(create_app(editor), width=1280, height=800) as page:
        page.editor, page.store = editor, store
        yield page
        errors = page.editgan_errors
    assert not errors, errors


def painted(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.editganAnnotate.labels)")).reshape(SIZE)


def click(page, x, y):
    page.mouse.click(*grid_to_screen(page, x, y, CANVAS))


def saved(page) -> np.ndarray:
    """The label map the server stores for the annotation shown, once autosave has settled."""
    page.wait_for_function("(() => { const a = window.editganAnnotate; return a.id && !a.dirty && !a.saving; })()")
    annotation_id = page.evaluate("window.editganAnnotate.id")
    stored = page.request.get(f"{page.url.rstrip('/')}/api/annotations/{annotation_id}").json()
    return labels_array(stored["labels"], SIZE)


def sample(page, seed):
    page.fill("#annot-seed", str(seed))
    page.click("#annot-sample-btn")
    page.wait_for_function(f"document.querySelector('#annot-source').textContent === 'seed {seed}'")


def paint_parts(page):
    """A skin square by polygon, a mouth stroke inside it; the same shapes on every sample."""
    page.keyboard.press("1")
    page.click(".annot-tool[data-tool=polygon]")
    for x, y in [(6, 6), (26, 6), (26, 26), (6, 26), (6, 6)]:
        click(page, x, y)
    page.keyboard.press("2")
    page.click(".annot-tool[data-tool=brush]")
    stroke(page, (10, 20), (22, 20), CANVAS)


def test_annotate_train_and_edit(page, tmp_path):
    screenshots = Path(os.environ.get("EDITGAN_SCREENSHOTS") or tmp_path)
    page.click("#modes [data-mode=annotate]")
    page.wait_for_selector("#annot-palette li >> nth=2")
    assert page.locator("#annot-palette li .name").all_text_contents() == list(SCHEME.names)
    assert page.text_content("#annot-segmenter") == "(none yet)"
    page.keyboard.press("1")
    assert page.evaluate("window.editganAnnotate.current") == 1

    sample(page, 3)
    assert not painted(page).any() and "no segmenter yet" in page.text_content("#status")
    assert "not saved yet" in page.text_content("#annot-save")

    # brush, with its outline cursor
    page.locator("#annot-size").fill("3")
    page.mouse.move(*grid_to_screen(page, 16, 16, CANVAS))
    assert page.get_attribute("#annot-cursor", "r") == "1.5"
    stroke(page, (4, 8), (20, 8), CANVAS)
    brushed = painted(page)
    assert (brushed[8, 5:20] == 1).all() and set(np.unique(brushed)) == {0, 1}
    # undo / redo: buttons and keys
    page.click("#annot-undo")
    assert not painted(page).any()
    page.keyboard.press("Control+y")
    np.testing.assert_array_equal(painted(page), brushed)
    page.keyboard.press("Control+z")
    assert not painted(page).any()
    page.click("#annot-redo")
    np.testing.assert_array_equal(painted(page), brushed)

    # polygon: four corners at pixel centres, closed on the first: the pixels whose centre is inside
    page.keyboard.press("2")
    page.click(".annot-tool[data-tool=polygon]")
    for x, y in [(4, 14), (14, 14), (14, 24), (4, 24)]:
        click(page, x, y)
    assert len(page.get_attribute("#annot-poly", "points").split()) >= 4
    click(page, 4, 14)
    expected = brushed.copy()
    expected[14:24, 4:14] = 2
    np.testing.assert_array_equal(painted(page), expected)
    # fill: the square (4-connected, label 2) becomes label 1
    page.locator("#annot-palette li", has_text="skin").click()
    page.click(".annot-tool[data-tool=fill]")
    click(page, 8, 18)
    expected[14:24, 4:14] = 1
    np.testing.assert_array_equal(painted(page), expected)
    # eraser paints background
    page.keyboard.press("e")
    stroke(page, (4, 8), (10, 8), CANVAS)
    erased = painted(page)
    assert (erased[8, 4:10] == 0).all() and (erased[8, 14:20] == 1).all()
    # autosave: the first change created a0001, the later ones replaced its map
    np.testing.assert_array_equal(saved(page), erased)
    assert page.evaluate("window.editganAnnotate.id") == "a0001" and page.text_content("#annot-save") == "saved as a0001"

    # view: opacity, zoom, pan
    page.locator("#annot-opacity").fill("0.8")
    assert page.evaluate("document.querySelector('#annot-canvas').style.opacity") == "0.8"
    width = page.locator("#annot-stage").bounding_box()["width"]
    page.click("#annot-zoom-in")
    page.click("#annot-zoom-in")
    assert page.text_content("#annot-zoom-value") == "200%"
    assert page.locator("#annot-stage").bounding_box()["width"] == pytest.approx(2 * width, rel=0.02)
    page.keyboard.press("h")
    left = page.evaluate("document.querySelector('#annot-viewport').scrollLeft")
    box = page.locator("#annot-viewport").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 100, box["y"] + 200, steps=5)
    page.mouse.up()
    assert page.evaluate("document.querySelector('#annot-viewport').scrollLeft") == pytest.approx(left + 100, abs=2)
    np.testing.assert_array_equal(painted(page), erased)  # panning paints nothing
    page.click("#annot-zoom-fit")
    page.keyboard.press("b")
    page.locator("#annot-size").fill("6")
    page.mouse.move(*grid_to_screen(page, 20, 18, CANVAS))  # the brush outline shows
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "annotate-1-painting.png"))

    # more samples: a suggested seed, then seeds 5 and 6 (6 deleted again)
    page.click("#annot-suggest-btn")
    first = page.locator("#annot-suggestions button").first
    first.wait_for()
    assert page.text_content("#annot-suggest-rule") == "spread out in W"
    seed = int(first.get_attribute("data-seed"))
    first.click()
    page.wait_for_function(f"document.querySelector('#annot-source').textContent === 'seed {seed}'")
    paint_parts(page)
    assert saved(page)[20, 12] == 2
    sample(page, 5)
    paint_parts(page)
    saved(page)
    page.click("#annot-session-btn")  # the Edit tab's image (seed 0 there)
    page.wait_for_function("document.querySelector('#annot-source').textContent === 'seed 0'")
    paint_parts(page)
    saved(page)
    assert page.store.list()[-1]["source"] == "seed 0"
    page.wait_for_function("document.querySelectorAll('#annot-list li[data-id]').length === 4")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#annot-list li[data-id=a0004] button.delete")
    page.wait_for_function("document.querySelectorAll('#annot-list li[data-id]').length === 3")
    assert [m["id"] for m in page.store.list()] == ["a0001", "a0002", "a0003"]
    page.click("#annot-list li[data-id=a0001] button.open")
    page.wait_for_function("window.editganAnnotate.id === 'a0001'")
    np.testing.assert_array_equal(painted(page), erased)

    # the scheme: add a label; removing one in use is refused with the server's one-line reason
    page.click("#scheme-add-btn")
    page.fill("#scheme-list li >> nth=3 >> input.name", "ear")
    page.click("#scheme-save-btn")
    page.wait_for_function("document.querySelectorAll('#annot-palette li').length === 4")
    assert page.editor.scheme.names == (*SCHEME.names, "ear")
    page.click("#scheme-list li >> nth=1 >> button.remove")  # skin: in use
    page.click("#scheme-save-btn")
    page.wait_for_function("document.querySelector('#status').classList.contains('error')")
    assert page.text_content("#status") == "cannot remove 'skin': stored annotations use it; delete or repaint those first"
    page.click("#scheme-revert-btn")
    page.fill("#scheme-list li >> nth=2 >> input.name", "skin")  # the server refuses, in one line
    page.click("#scheme-save-btn")
    page.wait_for_function("document.querySelector('#status').textContent.includes('HTTP 400')")
    assert "must be distinct; repeated: skin" in page.text_content("#status")
    assert page.editor.scheme.names == (*SCHEME.names, "ear")
    page.click("#scheme-revert-btn")
    assert page.locator("#scheme-list li").count() == 4

    # train (tiny settings), the held-out IoU table, then the Edit tab uses the new segmenter
    page.fill("#train-holdout", "0.34")
    page.fill("#train-members", "1")
    page.fill("#train-steps", "30")
    page.click("#annot-train-btn")
    page.wait_for_selector("#train-result:not([hidden])", timeout=120_000)
    rows = page.locator("#iou-table tbody tr td:first-child").all_text_contents()
    assert rows == [*SCHEME.names, "ear", "mean"]
    assert "(1 of 3 annotations)" in page.text_content("#train-info")
    assert page.text_content("#annot-segmenter") == "(installed)"
    page.screenshot(path=str(screenshots / "annotate-2-trained.png"))

    page.click("#modes [data-mode=edit]")
    assert page.locator("#palette li .name").all_text_contents() == [*SCHEME.names, "ear"]
    page.fill("#seed", "0")
    expected = page.editor.segment(page.editor.sample(0))[0].numpy().ravel()
    page.click("#sample-btn")  # (the Edit tab's status line still says 'sampled seed 0' from the start)
    page.wait_for_function("(e) => window.editgan.original.every((v, i) => v === e[i])", arg=expected.tolist())
    assert page.text_content("#status") == "sampled seed 0"
    page.locator("#palette li", has_text="mouth").click()
    page.click("button[data-tool=brush]")
    stroke(page, (8, 20), (24, 20))
    page.fill("#edit-steps", "3")
    page.click("#edit-btn")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert "edit: done" in page.text_content("#status")

    # back in the Annotate tab, a new sample starts from the new segmenter's prediction
    page.click("#modes [data-mode=annotate]")
    sample(page, 7)
    assert "prefilled from the segmenter" in page.text_content("#status")
    np.testing.assert_array_equal(painted(page).ravel(), page.editor.segment(page.editor.sample(7))[0].numpy().ravel())


def test_suggest_and_train_show_progress_time_left_and_cancel(page, tmp_path, monkeypatch):
    """Both slow actions run as jobs: the button waits, the progress row shows the time left, Cancel
    stops them; the training budget shows before it starts. (Slowed down here: a drawn candidate takes
    30 ms, a training step 2 ms of a stand-in trainer.)"""
    import time
    import editgan.app.annotation_service as annotation_service
    from annotation_fixtures import annotate
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [1, 2])
    draw = editor.generator.z_to_wplus

    def slow_draw(*args, **kwargs):
        time.sleep(0.03)
        return draw(*args, **kwargs)

    def stand_in(bundle, generator, store, scheme, settings, members, holdout, progress):
        for step in range(1, settings.max_steps + 1):
            time.sleep(0.002)
            progress("final", step, 1.0)
        raise AssertionError("cancelled before this")
    monkeypatch.setattr(annotation_service, "train_and_install", stand_in)
    with BackgroundServer(create_app(editor)) as url:
        page = open_page(page.context.browser, url, 1280, 800)
        page.click("#modes [data-mode=annotate]")
        page.wait_for_selector("#annot-list li[data-id=a0002]")
        assert page.text_content("#train-budget").startswith(
            "Budget: at most 8,000 steps (4,000 for the held-out estimate, then 4,000 on all) of 10 member(s)")
        page.fill("#train-holdout", "0")
        assert page.text_content("#train-budget").startswith("Budget: at most 4,000 steps of 10 member(s)")

        editor.generator.z_to_wplus = slow_draw
        page.click("#annot-suggest-btn")
        assert page.is_disabled("#annot-suggest-btn") and page.is_visible("#annot-job")  # at once, before the answer
        page.wait_for_function("document.querySelector('#status').textContent.includes(' left')")
        assert page.text_content("#status").startswith("drawing candidates: step ")
        assert page.evaluate("document.querySelector('#annot-job-progress').value") > 0
        page.click("#annot-cancel-btn")
        page.wait_for_function("document.querySelector('#status').textContent === 'suggesting seeds: cancelled'")
        assert page.is_enabled("#annot-suggest-btn") and page.is_hidden("#annot-job")
        assert page.locator("#annot-suggestions button").count() == 0
        editor.generator.z_to_wplus = draw
        page.click("#annot-suggest-btn")
        page.locator("#annot-suggestions button").first.wait_for()

        page.click("#annot-train-btn")
        page.wait_for_function("document.querySelector('#status').textContent.includes(' left')")
        assert page.is_disabled("#annot-train-btn") and page.is_disabled("#annot-suggest-btn")
        page.click("#annot-cancel-btn")
        page.wait_for_function("document.querySelector('#status').textContent === 'training the segmenter: cancelled'")
        assert page.is_enabled("#annot-train-btn") and page.is_hidden("#annot-job")
        page.context.close()
    assert not page.editgan_errors, page.editgan_errors


def test_a_stale_save_in_a_second_tab_is_refused_and_kept_as_a_copy(page, tmp_path):
    """Two tabs on one annotation: the first saves, the second's save is refused with the offer to
    reload or save as a copy (it saves as a copy); a second tab creating the same seed is offered the
    first one's annotation; the first tab restores the earlier map from the page."""
    from annotation_fixtures import annotate
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [3])
    original = store.get("a0001").labels
    with BackgroundServer(create_app(editor)) as url:
        one = open_page(page.context.browser, url, 1280, 800)
        two, two_errors = one.context.new_page(), []
        two.on("pageerror", lambda err: two_errors.append(str(err)))
        two.goto(url)
        two.wait_for_selector("body[data-ready=true]")
        for tab in (one, two):
            tab.click("#modes [data-mode=annotate]")
            tab.click("#annot-list li[data-id=a0001] button.open")
            tab.wait_for_function("window.editganAnnotate.id === 'a0001'")
        assert one.is_hidden("#annot-history") and one.get_attribute("#annot-image", "alt") == "image being annotated"
        one.keyboard.press("1")
        stroke(one, (2, 2), (12, 2), CANVAS)
        saved(one)
        assert store.meta("a0001")["version"] == 2
        two.keyboard.press("2")
        stroke(two, (2, 28), (12, 28), CANVAS)
        two.wait_for_selector("#annot-conflict:not([hidden])")
        assert "a0001 was saved elsewhere" in two.text_content("#annot-conflict-text")
        assert two.text_content("#annot-save") == "not saved: see below"
        mine = painted(two)
        two.click("#annot-copy-btn")
        two.wait_for_function("window.editganAnnotate.id === 'a0002'")
        assert two.is_hidden("#annot-conflict") and two.text_content("#annot-save") == "saved as a0002"
        np.testing.assert_array_equal(store.get("a0002").labels, mine)
        assert store.get("a0002").meta["source"] == "copy of a0001" and not np.array_equal(store.get("a0001").labels, mine)

        two.fill("#annot-seed", "3")  # the same seed as a new sample: one annotation, not two
        two.click("#annot-sample-btn")
        two.wait_for_function("document.querySelector('#annot-source').textContent === 'seed 3'")
        stroke(two, (2, 28), (12, 28), CANVAS)
        two.wait_for_selector("#annot-conflict:not([hidden])")
        assert "annotated already as a0001" in two.text_content("#annot-conflict-text")
        two.click("#annot-reload-btn")
        two.wait_for_function("window.editganAnnotate.id === 'a0001'")
        assert [m["id"] for m in store.list()] == ["a0001", "a0002"]

        one.wait_for_selector("#annot-history:not([hidden])")
        assert one.locator("#annot-backups option").count() == 1
        one.click("#annot-restore-btn")
        one.wait_for_function("document.querySelector('#status').textContent.startsWith('a0001: restored the map of')")
        np.testing.assert_array_equal(store.get("a0001").labels, original)
        np.testing.assert_array_equal(painted(one), original)
        one.context.close()
    assert not one.editgan_errors and not two_errors, (one.editgan_errors, two_errors)


def test_the_annotation_list_at_1024_px_with_many_labels(page, tmp_path):
    """An annotation using 14 labels: its id/source button keeps a readable width, the swatches wrap,
    and nothing in the Annotate tab overflows at 1024 px."""
    from editgan.annotate.scheme import save_scheme
    from editgan.io.images import to_uint8
    from editgan.labels import LabelScheme
    editor, store = new_domain(tmp_path)
    many = LabelScheme("many", tuple(f"part number {i}" for i in range(14)),
                       tuple((i * 17, 255 - i * 17, (i * 53) % 256) for i in range(14)))
    save_scheme(editor.bundle, many)
    editor.reload()
    w = editor.sample(1)
    store.create(w, to_uint8(editor.render(w))[0], np.arange(32 * 32).reshape(SIZE) % 14, many,
                 source="upload a-very-long-file-name-of-a-photo-taken-on-holiday-2026.png")
    with BackgroundServer(create_app(editor)) as url:
        tab = open_page(page.context.browser, url, 1024, 800)
        tab.click("#modes [data-mode=annotate]")
        tab.wait_for_selector("#annot-list li[data-id=a0001]")
        assert tab.locator("#annot-list li[data-id=a0001] button.open").bounding_box()["width"] >= 100
        assert tab.locator("#annot-list li[data-id=a0001] .present .swatch").count() == 14
        assert tab.evaluate("document.documentElement.scrollWidth") <= 1024
        overflowing = tab.evaluate("""[...document.querySelectorAll('main:not([hidden]) .panel')]
            .filter((p) => p.scrollWidth > p.clientWidth + 1).map((p) => p.id || p.className)""")
        assert overflowing == []
        tab.context.close()
    assert not tab.editgan_errors, tab.editgan_errors
