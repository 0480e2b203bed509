"""The web tool's JSON API on the tiny bundle: sampling, painting -> edit job with streamed progress,
the library and sliders (checked against w+ arithmetic), uploads, cancel, concurrency, bad input."""

import base64
import io
import json
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
from editgan.edit.vectors import EditingVector, VectorLibrary
from editgan.errors import CheckpointError
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
    assert (info["defaults"]["edit_steps"], info["defaults"]["refine_steps"]) == (100, 30)  # the paper's settings
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


def submit_edit(client, sid, steps):
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 1}).json()
    target = painted(labels_array(shown["labels"], SIZE))
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": steps})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def read_events(client, url, timeout=20.0) -> list[dict]:
    """`follow` on any events URL, failing (instead of hanging) when the stream does not end."""
    out = {}
    reader = threading.Thread(target=lambda: out.update(events=follow_url(client, url)), daemon=True)
    reader.start()
    reader.join(timeout)
    assert not reader.is_alive(), f"{url} did not end"
    return out["events"]


def follow_url(client, url):
    with client.stream("GET", url) as stream:
        return [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]


def test_a_finished_jobs_stream_ends_with_its_final_event_whatever_after_says(world):
    _, client, _ = world
    job = submit_edit(client, new_session(client), steps=1)
    events = follow(client, job)
    assert events[-1]["event"] == "done"
    for after in (len(events) - 1, len(events), len(events) + 5):
        assert read_events(client, f"/api/jobs/{job}/events?after={after}") == [events[-1]], after
    assert read_events(client, f"/api/jobs/{job}/events?after=2") == events[2:]


def test_scales_are_bounded_numbers_and_a_non_finite_edit_is_not_kept(world):
    editor, client, _ = world
    sid = new_session(client)
    learn(client, sid, steps=1)
    client.post(f"/api/sessions/{sid}/vectors", json={"name": "smile"})
    apply = f"/api/sessions/{sid}/apply"
    r = client.post(apply, json={"scales": {"smile": 1.7e308}})
    assert r.status_code == 422 and r.json()["detail"] == "scales.smile: Input should be less than or equal to 10"
    assert client.get("/api/info").json()["max_scale"] == 10
    for bad in (True, "1", None, [1]):
        assert client.post(apply, json={"scales": {"smile": bad}}).status_code == 422, bad
    assert client.post(apply, json={"scales": {"smile": -10}}).status_code == 200  # an integer is a number
    EditingVector(delta=torch.full((editor.generator.config.num_ws, 16), 3e38), name="huge").save(
        editor.library.directory)  # finite, but 10x of it is not in float32
    r = client.post(apply, json={"scales": {"huge": 10}})
    assert r.status_code == 400 and "not finite" in r.json()["detail"]
    assert client.post(f"/api/sessions/{sid}/adopt").status_code == 200  # adopts the -10 smile, not the inf
    assert client.post(apply, json={"scales": {"smile": 1}}).status_code == 200


@pytest.mark.parametrize("path, body", [
    ("sample", {"seed": True}), ("sample", {"seed": "3"}), ("sample", {"seed": 3.0}), ("sample", {"psi": "1"}),
    ("edit", {"labels": "", "steps": True}), ("edit", {"labels": "", "steps": "3"}),
    ("edit", {"labels": "", "buffer": False}), ("edit", {"labels": "", "lr": "0.1"}),
    ("refine", {"scales": {"v": 1}, "steps": True}), ("vectors", {"name": "v", "overwrite": "yes"}),
    ("vectors", {"name": 5})])
def test_booleans_and_numeric_strings_are_not_numbers(world, path, body):
    _, client, _ = world
    r = client.post(f"/api/sessions/{new_session(client)}/{path}", json=body)
    assert r.status_code == 422 and len(r.json()["detail"].splitlines()) == 1, r.text


def test_full_session_table_refuses_new_sessions_and_spares_busy_ones(world):
    editor, _, _ = world
    with TestClient(create_app(editor, max_sessions=2)) as client:
        first, second = new_session(client), new_session(client)
        r = client.post("/api/sessions")
        assert r.status_code == 503 and "already has 2 sessions in use" in r.json()["detail"]
        assert all("no image yet" in client.get(f"/api/sessions/{s}").json()["detail"] for s in (first, second))
    with TestClient(create_app(editor, max_sessions=2, session_recent_s=0.0)) as client:
        working = new_session(client)
        job = submit_edit(client, working, steps=1000)
        idle = new_session(client)
        for _ in range(3):  # each new session evicts the idle one, never the one with a running job
            newer = new_session(client)
            assert client.post(f"/api/sessions/{idle}/sample", json={}).status_code == 404
            idle = newer
        assert client.get(f"/api/jobs/{job}").json()["status"] in ("queued", "running")
        client.post(f"/api/jobs/{job}/cancel")
        wait_status(client, job, {"cancelled", "done"})


def test_a_chunked_body_over_the_limit_gets_413(world):
    """(That reading stops at the limit is checked on the middleware itself: the test client reads
    the whole body before it calls the application.)"""
    _, client, _ = world
    sid = new_session(client)

    def chunks():
        for _ in range(200):  # 200 kB without a Content-Length
            yield b"\0" * 1000

    r = client.post(f"/api/sessions/{sid}/upload", content=chunks(),
                    headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413 and r.json()["detail"] == "the request body is larger than the 50000 bytes accepted"
    r = client.post(f"/api/sessions/{sid}/edit", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_errors_do_not_show_server_paths(world, tmp_path, monkeypatch):
    editor, client, _ = world
    sid = new_session(client)
    learn(client, sid, steps=1)
    client.post(f"/api/sessions/{sid}/vectors", json={"name": "good"})
    (editor.library.directory / "bad.json").write_text("{not json")
    (editor.library.directory / "bad.safetensors").write_bytes(b"")
    problems = client.get("/api/vectors").json()["problems"]
    assert len(problems) == 1 and "vectors/bad.json is not valid JSON" in problems[0]
    r = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"bad": 1}})
    assert r.status_code == 409 and r.json()["detail"].startswith("vectors/bad.json is not valid JSON")
    assert client.post(f"/api/sessions/{sid}/vectors", json={"name": "good"}).json()["detail"] == \
        "an editing vector named 'good' already exists (good.json, good.safetensors); choose another name or overwrite it"

    def broken(*args, **kwargs):
        raise CheckpointError(f"{editor.bundle.path / 'segmenter.json'} is broken")

    monkeypatch.setattr(editor, "edit", broken)
    *_, events = learn(client, sid, steps=1)
    assert events[-1]["message"] == "bundle/segmenter.json is broken"
    for text in (problems[0], r.text, events[-1]["message"]):
        assert str(tmp_path) not in text


def test_shipped_vectors_are_read_only_and_yours_shadow_them(world, tmp_path):
    editor, client, service = world
    sid = new_session(client)
    learn(client, sid, steps=1)
    delta = service.sessions.get(sid).vector.delta
    shipped = tmp_path / "shipped"
    EditingVector(delta=-delta, name="smile").save(shipped)
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    editor.library = VectorLibrary(editor.library.directory, editor.library.shape, shipped=shipped)

    def listed():
        return {v["name"]: (v["shipped"], v["shadows_shipped"]) for v in client.get("/api/vectors").json()["vectors"]}

    def applied():
        return png_array(client.post(f"/api/sessions/{sid}/apply", json={"scales": {"smile": 1}}).content)

    w = editor.sample(1)
    assert listed() == {"smile": (True, False)}
    np.testing.assert_array_equal(applied(), rendered(editor, w - delta))
    r = client.delete("/api/vectors/smile")
    assert r.status_code == 403 and r.json()["detail"].startswith("'smile' is a shipped vector and cannot be deleted")
    assert client.post("/api/vectors/smile/rename", json={"new_name": "grin"}).status_code == 403
    r = client.post(f"/api/sessions/{sid}/vectors", json={"name": "smile"})
    assert r.status_code == 400 and "already exists (a shipped vector: yours would shadow it)" in r.json()["detail"]
    saved = client.post(f"/api/sessions/{sid}/vectors", json={"name": "smile", "overwrite": True})
    assert saved.status_code == 201 and saved.json()["shadows_shipped"] and not saved.json()["shipped"]
    assert listed() == {"smile": (False, True)}
    np.testing.assert_array_equal(applied(), rendered(editor, w + delta))
    client.post(f"/api/sessions/{sid}/vectors", json={"name": "smile", "overwrite": True})
    (kept,) = (editor.library.directory / ".backup").iterdir()  # the overwritten version is kept
    assert torch.equal(EditingVector.load(kept, "smile").delta, delta)
    assert client.delete("/api/vectors/smile").status_code == 204  # yours goes; the shipped one is back
    assert listed() == {"smile": (True, False)}
    np.testing.assert_array_equal(applied(), rendered(editor, w - delta))
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


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


def test_scheme_edits_reach_the_edit_api_at_once(world):
    """The bundle's scheme is the one source of truth: a rename and an added label show in /api/info
    at once; an edit on the renamed part works, one on the added label says to retrain first."""
    editor, client, service = world
    before = new_session(client)
    learn(client, before, steps=2)
    assert client.post(f"/api/sessions/{before}/vectors", json={"name": "wider"}).json()["parts"] == ["mouth"]
    scheme = client.get("/api/annotations/scheme").json()["scheme"]
    names = ["background", "skin", "lips", "freckles"]
    r = client.put("/api/annotations/scheme", json={"name": scheme["name"], "names": names,
                                                     "colors": scheme["colors"] + [[200, 120, 40]]})
    assert r.status_code == 200, r.text
    info = client.get("/api/info").json()
    assert [l["name"] for l in info["labels"]] == names and [l["segmented"] for l in info["labels"]] == [True] * 3 + [False]
    assert "predates label(s) 'freckles'" in info["scheme_note"] and editor.scheme.names == tuple(names)
    sid = new_session(client)
    original, target, events = learn(client, sid, steps=2, parts=["lips"])
    assert events[-1]["event"] == "done" and events[-1]["parts"] == ["lips"]
    freckled = original.copy()
    freckled[2:6, 2:6] = 3
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(freckled), "steps": 2})
    assert r.status_code == 400 and "the segmenter does not predict 'freckles' yet: retrain it" in r.json()["detail"]
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": 2, "parts": ["freckles"]})
    assert r.status_code == 400 and "'freckles'" in r.json()["detail"]
    r = client.post(f"/api/sessions/{sid}/refine", json={"scales": {"wider": 1.0}, "steps": 2})
    assert r.status_code == 202, r.text  # a vector learned before the rename still names "mouth"
    assert follow(client, r.json()["job_id"])[-1]["event"] == "done"
    editor.reload()  # a fresh load of the bundle keeps the scheme too
    _ = editor.segmenter
    assert editor.scheme.names == tuple(names)


def test_a_tabs_image_is_restored_into_a_new_session(world):
    editor, client, service = world
    sid = new_session(client)
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 5}).json()
    kept = client.get(f"/api/sessions/{sid}/state").json()
    assert kept["source"] == "seed 5" and kept["tuned"] is False
    client.delete(f"/api/sessions/{sid}")
    assert client.get(f"/api/sessions/{sid}/state").status_code == 404
    other = new_session(client)
    restored = client.post(f"/api/sessions/{other}/restore", json={"source": kept["source"], "wplus": kept["wplus"]})
    assert restored.status_code == 200 and restored.json()["source"] == "seed 5"
    assert restored.json()["image"] == shown["image"] and restored.json()["labels"] == shown["labels"]
    assert torch.equal(service.sessions.get(other).wplus.cpu(), editor.sample(5).cpu())
    bad = client.post(f"/api/sessions/{other}/restore", json={"wplus": "AAAA"})
    assert bad.status_code == 400 and "this generator takes w+ [1, 8, 16]" in bad.json()["detail"]
    nan = base64.b64encode(np.full(editor.generator.config.num_ws * editor.generator.config.w_dim, np.nan,
                                   "<f4").tobytes()).decode()
    assert "non-finite" in client.post(f"/api/sessions/{other}/restore", json={"wplus": nan}).json()["detail"]


def test_an_edit_that_changed_nothing_is_not_saved_as_a_vector(world):
    """A cancelled edit whose best step is 0 has a zero vector: saving it is refused."""
    import dataclasses
    editor, client, service = world
    sid = new_session(client)
    learn(client, sid, steps=2)
    session = service.sessions.get(sid)
    session.vector = dataclasses.replace(session.vector, delta=torch.zeros_like(session.vector.delta))
    r = client.post(f"/api/sessions/{sid}/vectors", json={"name": "nothing"})
    assert r.status_code == 400 and "this edit changed nothing" in r.json()["detail"]
    assert "nothing" not in editor.library.list()
