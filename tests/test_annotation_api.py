"""The annotation API on a tiny bundle without a segmenter: scheme, prefill, suggestions, saving and
autosave, a tuned upload annotated and trained on as drawn by its G', the training job end to end
(events, held-out IoU, install, the Editor then segments with the new segmenter), import, and
one-line 4xx errors."""

import io
import zipfile

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from annotation_fixtures import new_domain, teacher_labels
from app_fixtures import follow, labels_array, labels_b64, png_array, suggested
from edit_fixtures import SCHEME

from editgan.annotate.transfer import export_annotations
from editgan.app import create_app
from editgan.bundle import open_bundle
from editgan.io.images import to_uint8
from editgan.io.segmenter_files import load_segmenter
from editgan.nn.segmenter import render_and_segment

SIZE = (32, 32)


@pytest.fixture
def world(tmp_path):
    editor, store = new_domain(tmp_path)
    app = create_app(editor, max_upload_bytes=50_000)
    with TestClient(app) as client:
        yield editor, client, store


def add(client, editor, seed, **extra):
    r = client.post("/api/annotations", json={"seed": seed, "labels": labels_b64(teacher_labels(editor, editor.sample(seed))),
                                              **extra})
    assert r.status_code == 201, r.text
    return r.json()


def one_line_error(r, status, text):
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert text in detail and "\n" not in detail, detail


def test_annotating_without_a_segmenter(world):
    editor, client, store = world
    overview = client.get("/api/annotations").json()
    assert overview["annotations"] == [] and overview["label_size"] == [32, 32]
    assert overview["scheme"]["names"] == list(SCHEME.names) and overview["segmenter"] == {"present": False,
                                                                                          "folder": None}
    shown = client.post("/api/annotations/predict", json={"seed": 3}).json()
    assert shown["predicted"] is False and shown["mean_uncertainty"] is None and shown["seed"] == 3
    assert not labels_array(shown["labels"], SIZE).any()
    np.testing.assert_array_equal(png_array(shown["image"]), to_uint8(editor.render(editor.sample(3)))[0])
    assert suggested(client, count=2, candidates=4)["rule"] == "farthest_w"

    meta = add(client, editor, 3)
    assert meta["id"] == "a0001" and meta["source"] == "seed 3" and meta["seed"] == 3
    got = client.get("/api/annotations/a0001").json()
    np.testing.assert_array_equal(labels_array(got["labels"], SIZE), teacher_labels(editor, editor.sample(3)))
    assert got["backups"] == 0
    repainted = labels_array(got["labels"], SIZE).copy()
    repainted[:5] = 2
    r = client.put("/api/annotations/a0001", json={"labels": labels_b64(repainted)})
    assert r.status_code == 200 and client.get("/api/annotations/a0001").json()["backups"] == 1
    np.testing.assert_array_equal(png_array(client.get("/api/annotations/a0001/labels.png").content), repainted)
    assert client.delete("/api/annotations/a0001").status_code == 204
    assert client.get("/api/annotations").json()["annotations"] == [] and list((store.root / "trash").iterdir())


def test_annotation_from_an_editing_session(world):
    editor, client, store = world
    sid = client.post("/api/sessions").json()["session_id"]
    client.post(f"/api/sessions/{sid}/sample", json={"seed": 8, "psi": 0.7})
    r = client.post("/api/annotations", json={"session_id": sid, "labels": labels_b64(np.zeros(SIZE)), "id": "s8"})
    assert r.status_code == 201 and r.json()["source"] == "seed 8, psi 0.7"
    torch.testing.assert_close(store.get("s8").wplus, editor.sample(8, psi=0.7))


def test_annotating_a_tuned_upload_paints_and_trains_on_its_g_prime(world):
    editor, client, store = world
    sid = client.post("/api/sessions").json()["session_id"]
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 160, 220)).save(buf, format="PNG")
    r = client.post(f"/api/sessions/{sid}/upload", files={"file": ("sky.png", buf.getvalue(), "image/png")},
                    data={"steps": "2", "tune": "true", "tune_steps": "3"})
    assert follow(client, r.json()["job_id"])[-1]["tuned"]
    session = client.app.state.service.sessions.get(sid)
    w, tuned = session.wplus, session.tuned
    g_prime = to_uint8(tuned.render(w))[0]
    assert not np.array_equal(g_prime, to_uint8(editor.render(w))[0])
    shown = client.post("/api/annotations/predict", json={"session_id": sid}).json()
    np.testing.assert_array_equal(png_array(shown["image"]), g_prime)  # as the Edit tab shows it
    labels = teacher_labels(editor, w)
    assert client.post("/api/annotations", json={"session_id": sid, "labels": labels_b64(labels)}).status_code == 201
    stored = store.get("a0001")
    assert stored.meta["source"] == "upload sky.png" and stored.tuning.generator == tuned.tuning.generator
    np.testing.assert_array_equal(png_array(client.get("/api/annotations/a0001").json()["image"]), g_prime)
    np.testing.assert_array_equal(png_array(client.post("/api/annotations/predict", json={"annotation_id": "a0001"})
                                            .json()["image"]), g_prime)
    add(client, editor, 5)

    r = client.post("/api/annotations/train", json={"max_steps": 3, "members": 2, "holdout": 0})
    assert follow(client, r.json()["job_id"])[-1]["event"] == "done"
    assert open_bundle(editor.bundle.path).manifest["provenance"]["segmenter"]["tuned"] == ["a0001"]
    predicted = client.post("/api/annotations/predict", json={"annotation_id": "a0001"}).json()
    expected, _ = editor.tuned(stored.tuning).segment(stored.wplus, uncertainty=True)
    np.testing.assert_array_equal(labels_array(predicted["labels"], SIZE), expected[0].numpy())


def test_scheme_edits_over_the_api(world):
    editor, client, _ = world
    add(client, editor, 1)
    in_use = client.get("/api/annotations/scheme").json()["labels_in_use"]
    body = {"name": "three+", "names": ["background", "face", "mouth", "eye"],
            "colors": [[0, 0, 0], [1, 2, 3], [255, 0, 0], [0, 0, 255]]}
    r = client.put("/api/annotations/scheme", json=body)
    assert r.status_code == 200 and r.json()["scheme"]["names"][1] == "face"
    assert [l["name"] for l in client.get("/api/info").json()["labels"]] == body["names"]
    assert editor.scheme.names == tuple(body["names"])
    if 2 in in_use:
        one_line_error(client.put("/api/annotations/scheme", json={**body, "names": body["names"][:2],
                                                                  "colors": body["colors"][:2]}),
                       400, "cannot remove labels used in annotations: 'mouth' (2)")
    one_line_error(client.put("/api/annotations/scheme", json={**body, "names": ["background", "mouth", "face", "eye"]}),
                   400, "cannot remove or reorder labels used in annotations")
    one_line_error(client.put("/api/annotations/scheme", json={**body, "colors": [[0, 0, 0]] * 4}), 400,
                   "colours must be distinct")


def test_train_job_end_to_end_then_editing_uses_the_new_segmenter(world, tmp_path):
    editor, client, store = world
    for seed in range(4):
        add(client, editor, seed)
    r = client.post("/api/annotations/train", json={"max_steps": 20, "members": 2, "batch_pixels": 256,
                                                    "holdout": 0.25, "seed": 1})
    assert r.status_code == 202
    events = follow(client, r.json()["job_id"])
    assert [e["event"] for e in events[:2]] == ["queued", "started"] and events[-1]["event"] == "done", events[-1]
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["phase"] for e in progress} == {"holdout", "final"} and progress[-1]["step"] == progress[-1]["total"] == 40
    done = events[-1]
    assert len(done["held_out"]) == 1 and set(done["iou"]) == set(SCHEME.names)
    assert done["segmenter"] == str(tmp_path / "bundle" / "segmenter.safetensors") and done["backup"] is None
    installed, scheme = load_segmenter(tmp_path / "bundle")
    assert scheme == SCHEME
    torch.testing.assert_close(editor.segmenter.w1, installed.w1)  # the running Editor reloaded it
    assert client.get("/api/annotations").json()["segmenter"]["present"] is True

    sid = client.post("/api/sessions").json()["session_id"]
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 9}).json()
    w = editor.sample(9)
    expected = render_and_segment(editor.generator, installed, w)[1]
    np.testing.assert_array_equal(labels_array(shown["labels"], SIZE), expected.labels[0].numpy())
    pre = client.post("/api/annotations/predict", json={"seed": 9}).json()
    assert pre["predicted"] is True and pre["mean_uncertainty"] == pytest.approx(float(expected.uncertainty.mean()),
                                                                                   abs=1e-6)
    np.testing.assert_array_equal(labels_array(pre["labels"], SIZE), expected.labels[0].numpy())
    assert suggested(client, count=1)["rule"] == "uncertainty"

    r = client.post("/api/annotations/train", json={"max_steps": 3, "members": 2, "holdout": 0})
    again = follow(client, r.json()["job_id"])[-1]
    assert again["event"] == "done" and again["iou"] is None and again["backup"]


def test_import_zip_upload(world, tmp_path):
    editor, client, store = world
    add(client, editor, 2)
    export_annotations(store, SCHEME, tmp_path / "set.zip")
    data = (tmp_path / "set.zip").read_bytes()
    one_line_error(client.post("/api/annotations/import", files={"file": ("set.zip", data)}), 400,
                   "set.zip: annotation ids already in this bundle: a0001")
    client.delete("/api/annotations/a0001")
    r = client.post("/api/annotations/import", files={"file": ("set.zip", data)})
    assert r.status_code == 202 and r.json()["count"] == 1
    assert [m["id"] for m in follow(client, r.json()["job_id"])[-1]["imported"]] == ["a0001"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("padding.bin", np.random.default_rng(0).bytes(60_000))
    one_line_error(client.post("/api/annotations/import", files={"file": ("big.zip", buf.getvalue())}), 413,
                   "at most 50000 are accepted")


def test_bad_requests_are_one_line_4xx(world):
    editor, client, _ = world
    add(client, editor, 1)
    ok = labels_b64(np.zeros(SIZE))
    one_line_error(client.get("/api/annotations/nope"), 404, "no annotation 'nope'")
    one_line_error(client.put("/api/annotations/nope", json={"labels": ok}), 404, "no annotation 'nope'")
    one_line_error(client.delete("/api/annotations/nope"), 404, "no annotation 'nope'")
    one_line_error(client.get("/api/annotations/bad.id"), 400, "invalid annotation id")
    one_line_error(client.post("/api/annotations", json={"seed": 1, "labels": labels_b64(np.zeros((16, 32)))}), 400,
                   "labels hold 512 values; this bundle's label map is 32x32")
    one_line_error(client.put("/api/annotations/a0001", json={"labels": labels_b64(np.full(SIZE, 7))}), 400,
                   "has labels [7] outside scheme 'three'")
    one_line_error(client.post("/api/annotations", json={"labels": ok}), 400, "name exactly one sample")
    one_line_error(client.post("/api/annotations", json={"seed": 1, "session_id": "x", "labels": ok}), 400,
                   "name exactly one sample")
    one_line_error(client.post("/api/annotations", json={"session_id": "gone", "labels": ok}), 404, "session")
    one_line_error(client.post("/api/annotations", json={"seed": 2, "labels": ok, "id": "a0001"}), 400,
                   "'a0001' exists already")
    one_line_error(client.post("/api/annotations", json={"seed": 1, "labels": "x" * 200_000}), 413,
                   "at most 50000 are accepted")
    one_line_error(client.post("/api/annotations/train", json={"holdout": 1.0}), 422, "holdout")
    one_line_error(client.post("/api/annotations/suggest", json={"count": 0}), 422, "count")


def test_suggest_is_a_job_with_progress_and_seeds_exact_in_javascript(world):
    editor, client, _ = world
    r = client.post("/api/annotations/suggest", json={"count": 2, "candidates": 5})
    assert r.status_code == 202
    events = follow(client, r.json()["job_id"])
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4, 5] and {e["total"] for e in progress} == {5}
    assert all("eta_s" in e and e["phase"] == "drawing" for e in progress)
    assert events[-1]["event"] == "done" and len(events[-1]["suggestions"]) == 2
    top = 2**53 - 1  # Number.MAX_SAFE_INTEGER: no seed past it is taken or returned
    near = suggested(client, count=3, candidates=10, start_seed=top - 1)
    assert sorted(s["seed"] for s in near["suggestions"]) == [top - 1, top]
    one_line_error(client.post("/api/annotations/suggest", json={"start_seed": top + 1}), 422, "start_seed")
    one_line_error(client.post("/api/annotations", json={"seed": top + 1, "labels": "AA=="}), 422, "seed")


def test_two_tabs_on_one_annotation(world):
    """Saves carry the version they started from: the second tab's stale save is refused (409 with the
    current version) and nothing is written; it can reload or save as a copy. Two tabs creating one
    seed make one annotation. Backups are listed and restored (restoring backs up the current map)."""
    editor, client, store = world
    first = add(client, editor, 4)
    assert first["version"] == 1
    map1 = labels_array(client.get("/api/annotations/a0001").json()["labels"], SIZE)
    r = client.post("/api/annotations", json={"seed": 4, "labels": labels_b64(map1)})  # the other tab, same seed
    assert r.status_code == 409 and r.json()["id"] == "a0001" and "seed 4 is annotated already as 'a0001'" in r.json()["detail"]
    assert [m["id"] for m in store.list()] == ["a0001"]
    tab_a, tab_b = map1.copy(), map1.copy()
    tab_a[:4] = 1
    tab_b[-4:] = 2
    r = client.put("/api/annotations/a0001", json={"labels": labels_b64(tab_a), "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.put("/api/annotations/a0001", json={"labels": labels_b64(tab_b), "version": 1})
    assert r.status_code == 409 and r.json()["version"] == 2 and "saved elsewhere" in r.json()["detail"]
    assert "reload it, or save yours as a copy" in r.json()["detail"]
    np.testing.assert_array_equal(labels_array(client.get("/api/annotations/a0001").json()["labels"], SIZE), tab_a)
    copy = client.post("/api/annotations/a0001/copy", json={"labels": labels_b64(tab_b)})
    assert copy.status_code == 201 and copy.json()["source"] == "copy of a0001" and copy.json()["id"] == "a0002"
    np.testing.assert_array_equal(labels_array(client.get("/api/annotations/a0002").json()["labels"], SIZE), tab_b)
    assert client.get("/api/annotations/a0002").json()["image"] == client.get("/api/annotations/a0001").json()["image"]

    backups = client.get("/api/annotations/a0001/backups").json()["backups"]
    assert len(backups) == 1 and backups[0]["time"].endswith("+00:00")
    r = client.post(f"/api/annotations/a0001/backups/{backups[0]['name']}/restore", json={"version": 1})
    assert r.status_code == 409
    r = client.post(f"/api/annotations/a0001/backups/{backups[0]['name']}/restore", json={"version": 2})
    assert r.status_code == 200 and r.json()["version"] == 3
    np.testing.assert_array_equal(labels_array(client.get("/api/annotations/a0001").json()["labels"], SIZE), map1)
    assert len(client.get("/api/annotations/a0001/backups").json()["backups"]) == 2
    one_line_error(client.post("/api/annotations/a0001/backups/nope/restore", json={}), 404, "no backup 'nope'")
    assert client.post("/api/annotations", json={"seed": 4, "labels": labels_b64(map1),
                                                  "allow_duplicate": True}).status_code == 201
