"""The web tool's JSON API on the tiny bundle: sampling, painting -> edit job with streamed progress,
the library and sliders (checked against w+ arithmetic), uploads, cancel, concurrency, bad input."""

import io
import threading
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from app_fixtures import follow, labels_array, labels_b64, png_array, tiny_editor
from edit_fixtures import MOUTH, SCHEME
from fastapi.testclient import TestClient

from editgan.app import create_app
from editgan.edit.vectors import EditingVector
from editgan.io.images import to_uint8

SIZE = (32, 32)


@pytest.fixture
def world(tmp_path):
    editor = tiny_editor(tmp_path)
    app = create_app(editor, max_upload_bytes=50_000)
    with TestClient(app) as client:
        yield editor, client, app.state.service


def new_session(client) -> str:
    r = client.post("/api/sessions")
    assert r.status_code == 201
    return r.json()["session_id"]


def painted(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[8:20, 8:20] = MOUTH
    return out


def learn(client, sid, steps=3, **extra):
    """Sample seed 1, paint the square, run an edit to the end -> (original labels, target, events)."""
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 1}).json()
    original = labels_array(shown["labels"], SIZE)
    target = painted(original)
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": steps, **extra})
    assert r.status_code == 202, r.text
    return original, target, follow(client, r.json()["job_id"])


def rendered(editor, wplus) -> np.ndarray:
    return to_uint8(editor.generator.synthesis(wplus, noise_mode="const"))[0]


def test_info_describes_the_bundle(world):
    _, client, _ = world
    info = client.get("/api/info").json()
    assert info["image_size"] == [32, 32] and info["label_size"] == [32, 32]
    assert [(l["index"], l["name"], tuple(l["color"])) for l in info["labels"]] == \
        [(i, n, c) for i, (n, c) in enumerate(zip(SCHEME.names, SCHEME.colors))]
    assert info["max_upload_bytes"] == 50_000
    assert client.get("/openapi.json").json()["paths"]["/api/sessions/{session_id}/apply"]
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "app.js" in page.text and client.get("/static/app.js").status_code == 200


def test_sample_by_seed_and_random(world):
    editor, client, _ = world
    sid = new_session(client)
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 5}).json()
    w = editor.sample(5)
    np.testing.assert_array_equal(png_array(shown["image"]), rendered(editor, w))
    np.testing.assert_array_equal(labels_array(shown["labels"], SIZE), editor.segment(w)[0].numpy())
    random = client.post(f"/api/sessions/{sid}/sample", json={}).json()
    again = client.post(f"/api/sessions/{sid}/sample", json={"seed": random["seed"]}).json()
    assert random["image"] == again["image"] and random["source"] == f"seed {random['seed']}"
    assert client.get(f"/api/sessions/{sid}").json()["image"] == again["image"]


def test_edit_job_streams_progress_and_result_matches_the_vector(world):
    editor, client, service = world
    sid = new_session(client)
    original, target, events = learn(client, sid, steps=4)
    kinds = [e["event"] for e in events]
    assert kinds == ["queued", "started"] + ["progress"] * 5 + ["done"]
    assert [e["step"] for e in events if e["event"] == "progress"] == [0, 1, 2, 3, 4]
    assert [e["seq"] for e in events] == list(range(len(events)))
    done = events[-1]
    assert done["parts"] == ["mouth"] and done["steps"] == 4 and not done["cancelled"]  # inferred from the paint
    session = service.sessions.get(sid)
    w, delta = editor.sample(1), session.vector.delta
    np.testing.assert_array_equal(png_array(done["before"]), rendered(editor, w))
    np.testing.assert_array_equal(png_array(done["after"]), rendered(editor, w + delta))
    diff = np.abs(rendered(editor, w + delta).astype(int) - rendered(editor, w).astype(int)).max(axis=2)
    np.testing.assert_array_equal(png_array(done["difference"]), np.minimum(4 * diff, 255))
    np.testing.assert_array_equal(labels_array(done["labels_after"], SIZE), editor.segment(w + delta)[0].numpy())
    assert client.get(f"/api/sessions/{sid}/result").json() == {k: v for k, v in done.items()
                                                               if k not in ("event", "seq")}
    np.testing.assert_array_equal(png_array(client.get(f"/api/sessions/{sid}/download/painted-mask.png").content),
                                  target)


def test_explicit_parts_and_unknown_part(world):
    _, client, _ = world
    sid = new_session(client)
    *_, events = learn(client, sid, steps=1, parts=["mouth", "skin"])
    assert events[-1]["parts"] == ["mouth", "skin"]
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(np.zeros(SIZE)), "parts": ["nose"]})
    assert r.status_code == 400 and "unknown label 'nose'" in r.json()["detail"]


def test_save_vector_then_sliders_compose(world, tmp_path):
    editor, client, service = world
    sid = new_session(client)
    learn(client, sid)
    saved = client.post(f"/api/sessions/{sid}/vectors", json={"name": "mouth_up"})
    assert saved.status_code == 201 and saved.json()["parts"] == ["mouth"]
    delta = service.sessions.get(sid).vector.delta
    assert torch.equal(editor.library.get("mouth_up").delta, delta)
    again = client.post(f"/api/sessions/{sid}/vectors", json={"name": "mouth_up"})
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    assert client.post(f"/api/sessions/{sid}/vectors", json={"name": "other"}).status_code == 201
    listed = client.get("/api/vectors").json()
    assert [v["name"] for v in listed["vectors"]] == ["mouth_up", "other"] and listed["problems"] == []

    w = editor.sample(1)
    r = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"mouth_up": -1.5}})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and float(r.headers["x-compute-ms"]) > 0
    np.testing.assert_array_equal(png_array(r.content), rendered(editor, w - 1.5 * delta))
    both = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"mouth_up": 0.5, "other": 1.0}})
    np.testing.assert_array_equal(png_array(both.content), rendered(editor, w + 0.5 * delta + delta))  # server's order
    zero = client.post(f"/api/sessions/{sid}/apply", json={"scales": {}})
    np.testing.assert_array_equal(png_array(zero.content), rendered(editor, w))
    np.testing.assert_array_equal(png_array(client.get(f"/api/sessions/{sid}/download/edited.png").content),
                                  rendered(editor, w))

    # continuing from the edited image: it becomes the image to edit, with its own segmentation
    client.post(f"/api/sessions/{sid}/apply", json={"scales": {"mouth_up": 1.0}})
    adopted = client.post(f"/api/sessions/{sid}/adopt").json()
    np.testing.assert_array_equal(png_array(adopted["image"]), rendered(editor, w + delta))
    np.testing.assert_array_equal(labels_array(adopted["labels"], SIZE), editor.segment(w + delta)[0].numpy())
    assert adopted["source"] == "edited seed 1"
    again = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"mouth_up": 1.0}})
    np.testing.assert_array_equal(png_array(again.content), rendered(editor, (w + delta) + delta))
    assert client.post(f"/api/sessions/{sid}/adopt").status_code == 200
    client.post(f"/api/sessions/{sid}/sample", json={"seed": 1})
    assert client.post(f"/api/sessions/{sid}/adopt").status_code == 409
    w = editor.sample(1)

    # a vector changed on disk by someone else is read again, not served stale from the cache
    EditingVector(delta=2 * delta, name="other").save(editor.library.directory)
    doubled = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"other": 1.0}})
    np.testing.assert_array_equal(png_array(doubled.content), rendered(editor, w + 2 * delta))
    mask = png_array(client.get(f"/api/sessions/{sid}/download/edited-mask.png").content)
    np.testing.assert_array_equal(mask, editor.segment(w + 2 * delta)[0].numpy())

    archive = zipfile.ZipFile(io.BytesIO(client.get("/api/vectors/mouth_up/download").content))
    archive.extractall(tmp_path / "unzipped")
    assert torch.equal(EditingVector.load(tmp_path / "unzipped", "mouth_up").delta, delta)
    thumb = client.get("/api/vectors/mouth_up/thumbnail/after.png")
    np.testing.assert_array_equal(png_array(thumb.content), editor.library.get("mouth_up").thumbnails["after"])


def test_rename_delete_and_path_tricks(world):
    editor, client, _ = world
    sid = new_session(client)
    learn(client, sid)
    client.post(f"/api/sessions/{sid}/vectors", json={"name": "a"})
    before = sorted(p.name for p in editor.library.directory.iterdir())
    for name in ["../evil", "a/b", "..", ".hidden", "con", "x" * 65, "", "a\\b"]:
        r = client.post(f"/api/sessions/{sid}/vectors", json={"name": name})
        assert r.status_code == 400 and "invalid vector name" in r.json()["detail"], name
        r = client.post("/api/vectors/a/rename", json={"new_name": name})
        assert r.status_code == 400, name
    assert client.post(f"/api/sessions/{sid}/apply", json={"scales": {"../a": 1}}).status_code == 400
    assert client.get("/api/vectors/..%2Fa/download").status_code == 404
    assert sorted(p.name for p in editor.library.directory.iterdir()) == before
    assert not (editor.library.directory.parent / "evil.json").exists()
    assert client.post("/api/vectors/a/rename", json={"new_name": "b"}).json()["name"] == "b"
    assert client.post(f"/api/sessions/{sid}/apply", json={"scales": {"a": 1}}).status_code == 404
    assert client.delete("/api/vectors/b").status_code == 204
    assert client.delete("/api/vectors/b").status_code == 404
    assert client.get("/api/vectors").json()["vectors"] == []
    blocked = editor.library.directory.parent / "not_a_directory"
    blocked.write_text("")
    editor.library.directory = blocked  # unwritable, as a read-only installed package would be (even for root)
    r = client.post(f"/api/sessions/{sid}/vectors", json={"name": "c"})
    assert r.status_code == 409 and "cannot write the vector library" in r.json()["detail"]


def test_bad_requests_get_clear_4xx(world):
    _, client, _ = world
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/sample", json={"seed": 0})
    edit = f"/api/sessions/{sid}/edit"
    r = client.post(edit, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["detail"] == "the request body is not valid JSON"
    r = client.post(edit, json={"labels": labels_b64(np.zeros((16, 32)))})
    assert r.status_code == 400 and "32x32" in r.json()["detail"]
    bad = np.zeros(SIZE)
    bad[3, 4] = 7
    r = client.post(edit, json={"labels": labels_b64(bad)})
    assert r.status_code == 400 and "labels [7] outside" in r.json()["detail"]
    assert "not valid base64" in client.post(edit, json={"labels": "%%%"}).json()["detail"]
    r = client.post(edit, json={"labels": labels_b64(np.zeros(SIZE)), "steps": 0})
    assert r.status_code == 422 and "steps" in r.json()["detail"]
    assert client.post(edit, json={"labels": "", "colour": 1}).status_code == 422
    r = client.post(f"/api/sessions/{sid}/apply", content=b'{"scales": {"a": NaN}}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    current = client.get(f"/api/sessions/{sid}").json()["labels"]
    r = client.post(edit, json={"labels": current})
    assert r.status_code == 400 and "nothing was repainted" in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}/result").status_code == 409
    assert client.post(f"/api/sessions/{sid}/vectors", json={"name": "x"}).status_code == 409
    assert client.get(f"/api/sessions/{sid}/download/edited.png").status_code == 409
    assert client.get(f"/api/sessions/{sid}/download/secret.png").status_code == 400
    assert client.post("/api/sessions/nope/sample", json={}).status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404
    fresh = new_session(client)
    r = client.post(f"/api/sessions/{fresh}/apply", json={"scales": {}})
    assert r.status_code == 400 and "no image yet" in r.json()["detail"]


def png_file(size=(40, 30), color=(200, 100, 50)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_upload_embeds_and_rejects_bad_files(world):
    editor, client, _ = world
    sid = new_session(client)
    up = f"/api/sessions/{sid}/upload"
    r = client.post(up, files={"file": ("face.png", png_file(), "image/png")}, data={"steps": "3"})
    assert r.status_code == 202, r.text
    events = follow(client, r.json()["job_id"])
    assert [e["step"] for e in events if e["event"] == "progress"] == [0, 1, 2, 3]
    done = events[-1]
    assert done["event"] == "done" and done["source"] == "upload face.png" and done["loss"] > 0
    assert png_array(done["image"]).shape == (32, 32, 3) and labels_array(done["labels"], SIZE).max() < 3
    r = client.post(up, files={"file": ("notes.png", b"hello, not an image", "image/png")})
    assert r.status_code == 400 and r.json()["detail"] == "notes.png: not an image file PIL can read"
    r = client.post(up, files={"file": ("tiny.png", png_file((8, 8)), "image/png")})
    assert r.status_code == 400 and "at least 16x16" in r.json()["detail"]
    r = client.post(up, files={"file": ("big.bin", b"\0" * 60_000, "image/png")})  # caught after reading
    assert r.status_code == 413 and "at most 50000" in r.json()["detail"]
    r = client.post(up, files={"file": ("huge.bin", b"\0" * 200_000, "image/png")})  # refused before reading
    assert r.status_code == 413 and "at most 50000" in r.json()["detail"]
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": "A" * 200_000})
    assert r.status_code == 413
    r = client.post(up, files={"file": ("a.png", png_file(), "image/png")}, data={"steps": "-1"})
    assert r.status_code == 400
    assert client.post(up, data={"steps": "3"}).status_code == 422


def wait_status(client, job_id, wanted, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["status"] in wanted:
            return status
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {wanted}")


def test_cancel_keeps_the_best_edit_so_far_and_sliders_do_not_wait(world):
    editor, client, service = world
    sid = new_session(client)
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 1}).json()
    target = painted(labels_array(shown["labels"], SIZE))
    job = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": 1000}).json()["job_id"]
    wait_status(client, job, {"running"})
    busy = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": 1})
    assert busy.status_code == 409 and "already has a job (edit, running)" in busy.json()["detail"]
    t0 = time.perf_counter()
    for _ in range(3):  # the slider path answers while the edit is still running
        assert client.post(f"/api/sessions/{sid}/apply", json={"scales": {}}).status_code == 200
    assert client.get(f"/api/jobs/{job}").json()["status"] == "running", "edit finished too fast to test"
    assert time.perf_counter() - t0 < 5
    client.post(f"/api/jobs/{job}/cancel")
    final = wait_status(client, job, {"cancelled"})["result"]
    assert final["event"] == "cancelled" and final["cancelled"] and final["steps"] < 1000
    assert service.sessions.get(sid).vector is not None  # the partial edit can still be saved

    up = client.post(f"/api/sessions/{sid}/upload", files={"file": ("a.png", png_file(), "image/png")},
                     data={"steps": "2000"}).json()["job_id"]
    wait_status(client, up, {"running"})
    client.post(f"/api/jobs/{up}/cancel")
    assert wait_status(client, up, {"cancelled"})["result"]["message"] == "cancelled"
    assert client.get(f"/api/sessions/{sid}").json()["source"] == "seed 1"  # the image was kept


def test_refine_job(world):
    editor, client, service = world
    sid = new_session(client)
    learn(client, sid)
    client.post(f"/api/sessions/{sid}/vectors", json={"name": "v"})
    plain = png_array(client.post(f"/api/sessions/{sid}/apply", json={"scales": {"v": 1.0}}).content)
    assert client.post(f"/api/sessions/{sid}/refine", json={"scales": {}, "steps": 2}).status_code == 400
    job = client.post(f"/api/sessions/{sid}/refine", json={"scales": {"v": 1.0}, "steps": 2}).json()["job_id"]
    events = follow(client, job)
    assert events[-1]["event"] == "done" and len([e for e in events if e["event"] == "progress"]) == 3
    refined = service.sessions.get(sid).edited
    np.testing.assert_array_equal(png_array(events[-1]["image"]), rendered(editor, refined))
    assert not np.array_equal(png_array(events[-1]["image"]), plain)


def test_sessions_are_independent_under_concurrent_requests(world):
    editor, client, service = world
    sessions = {seed: new_session(client) for seed in range(4)}
    for seed, sid in sessions.items():
        client.post(f"/api/sessions/{sid}/sample", json={"seed": seed})
    results, errors = {}, []

    def hammer(seed, sid):
        try:
            for _ in range(5):
                results[seed] = client.post(f"/api/sessions/{sid}/apply", json={"scales": {}}).content
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=hammer, args=item) for item in sessions.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for seed in sessions:
        np.testing.assert_array_equal(png_array(results[seed]), rendered(editor, editor.sample(seed)))
    assert client.delete(f"/api/sessions/{sessions[0]}").status_code == 204
    assert client.post(f"/api/sessions/{sessions[0]}/apply", json={"scales": {}}).status_code == 404


def test_downloads_coloured_and_enlarged(world):
    editor, client, _ = world
    sid = new_session(client)
    _, target, _ = learn(client, sid, steps=1)
    base = f"/api/sessions/{sid}/download"
    colours = np.asarray(SCHEME.colors, dtype=np.uint8)
    r = client.get(f"{base}/painted-mask.png?colour=1&scale=4")
    assert r.status_code == 200 and 'filename="painted-mask-colour-x4.png"' in r.headers["content-disposition"]
    np.testing.assert_array_equal(png_array(r.content), colours[target].repeat(4, axis=0).repeat(4, axis=1))
    edited = png_array(client.get(f"{base}/edited.png").content)
    np.testing.assert_array_equal(png_array(client.get(f"{base}/edited.png?scale=2").content),
                                  edited.repeat(2, axis=0).repeat(2, axis=1))
    mask = png_array(client.get(f"{base}/edited-mask.png").content)
    np.testing.assert_array_equal(png_array(client.get(f"{base}/edited-mask.png?colour=1").content), colours[mask])
    assert "masks only" in client.get(f"{base}/edited.png?colour=1").json()["detail"]
    for bad in ("scale=0", "scale=9"):
        r = client.get(f"{base}/edited.png?{bad}")
        assert r.status_code == 400 and "scale must be in [1, 8]" in r.json()["detail"]
    assert client.get(f"{base}/edited.png?scale=two").status_code == 422
