"""Uploads in the web tool's API with the bundle's embedding settings: the defaults /api/info reports,
overriding steps and pivotal tuning, one job over both phases (progress, cancel), the fidelity in its
result, a tuned session drawn by G' in every route (and switched to the W+ pivot by G to compare)."""

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

from app_fixtures import follow, labels_array, labels_b64, png_array, tiny_editor
from edit_fixtures import MOUTH
from fastapi.testclient import TestClient

from editgan.inversion.settings import FAITHFUL
from editgan.app import create_app
from editgan.app.service import MAX_TUNE_STEPS, load_upload
from editgan.io.images import to_uint8

SIZE = (32, 32)
NO_WAY = {"psnr_floor": 99.0, "perceptual_ceiling": 0.0, "source": "a test: no reconstruction passes"}


def png_file(size=(40, 30)) -> bytes:
    """A photo the tiny generator cannot draw: a colour gradient."""
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    rgb = np.stack([np.broadcast_to(x, size[::-1]), np.broadcast_to(x[::-1], size[::-1]),
                    np.full(size[::-1], 90, np.uint8)], axis=2)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def world(tmp_path):
    editor = tiny_editor(tmp_path, fidelity=NO_WAY)
    with TestClient(create_app(editor)) as client:
        yield editor, client, client.app.state.service


def new_session(client) -> str:
    return client.post("/api/sessions").json()["session_id"]


def upload(client, sid, **fields):
    r = client.post(f"/api/sessions/{sid}/upload", files={"file": ("photo.png", png_file(), "image/png")},
                    data={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()})
    assert r.status_code == 202, r.text
    return follow(client, r.json()["job_id"])


def image(editor, wplus) -> np.ndarray:
    return to_uint8(editor.render(wplus))[0]


@pytest.mark.parametrize("embedding, steps, tune, tune_steps", [
    (None, 500, False, FAITHFUL.tune_steps), ("release", 99, False, FAITHFUL.tune_steps),
    ("faithful", 500, True, FAITHFUL.tune_steps),
    ({"preset": "faithful", "steps": 7, "tune_steps": 5}, 7, True, 5)])
def test_info_defaults_come_from_the_bundles_embedding_settings(tmp_path, embedding, steps, tune, tune_steps):
    editor = tiny_editor(tmp_path, **({} if embedding is None else {"embedding": embedding}))
    with TestClient(create_app(editor)) as client:
        info = client.get("/api/info").json()
    assert {k: info["defaults"][k] for k in ("embed_steps", "tune", "tune_steps")} == \
        {"embed_steps": steps, "tune": tune, "tune_steps": tune_steps}
    assert info["max_embed_steps"] == 2000 and info["max_tune_steps"] == MAX_TUNE_STEPS


def test_upload_with_defaults_untouched_embeds_with_the_bundles_settings(tmp_path):
    editor = tiny_editor(tmp_path, embedding={"preset": "faithful", "steps": 2, "tune_steps": 3})
    with TestClient(create_app(editor)) as client:
        events = upload(client, new_session(client))
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == list(range(6)) and {e["total"] for e in progress} == {5}
    done = events[-1]
    assert done["embed_steps"] == 2 and done["tune_steps"] == 3 and done["tunable"] and done["tuned"]
    assert done["warning"] is None  # this bundle records no limits


def test_tuned_upload_is_one_job_and_its_session_draws_with_g_prime(world):
    editor, client, service = world
    sid = new_session(client)
    events = upload(client, sid, steps=3, tune=True, tune_steps=4)
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == list(range(8)) and {e["total"] for e in progress} == {7}
    assert [e["phase"] for e in progress] == ["embedding"] * 4 + ["tuning"] * 4
    done = events[-1]
    assert done["event"] == "done" and done["tunable"] and done["tuned"]
    assert done["embed_steps"] == 3 and done["tune_steps"] == 4

    session = service.sessions.get(sid)
    w, tuned = session.wplus, session.tuned
    assert tuned is not None and tuned.tuning is not None and session.use_tuned
    g_prime, g = image(tuned, w), image(editor, w)
    assert not np.array_equal(g_prime, g)  # G' draws the upload otherwise than G
    np.testing.assert_array_equal(png_array(done["image"]), g_prime)
    np.testing.assert_array_equal(png_array(done["pivot_image"]), g)
    np.testing.assert_array_equal(labels_array(done["labels"], SIZE), tuned.segment(w)[0].numpy())

    # the same embedding by the Editor: the reconstruction is the session's render, the fidelity its own
    target = load_upload(png_file(), "photo.png", SIZE)
    result = editor.embed(target, settings=service.upload_settings(3, True, 4))
    assert np.abs(to_uint8(result.reconstruction)[0].astype(int) - g_prime.astype(int)).max() <= 1
    assert done["fidelity"] == pytest.approx(result.fidelity[0].to_json(), abs=1e-3)
    assert done["pivot_fidelity"] == pytest.approx(result.pivot_fidelity[0].to_json(), abs=1e-3)
    assert done["fidelity"]["psnr"] > done["pivot_fidelity"]["psnr"]  # tuning reconstructs better
    assert done["warning"] == result.warnings[0] and "far from anything the generator draws" in done["warning"]

    # every route on the session's image uses G'
    np.testing.assert_array_equal(png_array(client.get(f"/api/sessions/{sid}").json()["image"]), g_prime)
    np.testing.assert_array_equal(png_array(client.get(f"/api/sessions/{sid}/download/original.png").content), g_prime)
    np.testing.assert_array_equal(png_array(client.post(f"/api/sessions/{sid}/apply", json={"scales": {}}).content),
                                  g_prime)
    np.testing.assert_array_equal(png_array(client.get(f"/api/sessions/{sid}/download/edited-mask.png").content),
                                  tuned.segment(w)[0].numpy())
    target_labels = labels_array(done["labels"], SIZE).copy()
    target_labels[8:20, 8:20] = MOUTH
    r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target_labels), "steps": 2})
    edit = follow(client, r.json()["job_id"])[-1]
    np.testing.assert_array_equal(png_array(edit["before"]), g_prime)
    edited = session.edited
    np.testing.assert_array_equal(png_array(edit["after"]), image(tuned, edited))
    assert client.post(f"/api/sessions/{sid}/vectors", json={"name": "from_photo"}).status_code == 201
    assert torch.allclose(editor.library.get("from_photo").delta, edited[0] - w[0], atol=1e-6)  # a δw+ as ever

    # an adopted edit of the tuned image stays tuned (the same G')
    adopted = client.post(f"/api/sessions/{sid}/adopt").json()
    assert adopted["tunable"] and adopted["tuned"] and session.tuned is tuned
    np.testing.assert_array_equal(png_array(adopted["image"]), image(tuned, edited))


def test_the_tuned_session_switches_to_the_w_plus_pivot_and_back(world):
    editor, client, service = world
    sid = new_session(client)
    upload(client, sid, steps=2, tune=True, tune_steps=3)
    session = service.sessions.get(sid)
    w, tuned = session.wplus, session.tuned
    off = client.post(f"/api/sessions/{sid}/tuning", json={"use": False}).json()
    assert off["tunable"] and not off["tuned"] and session.tuned is tuned
    np.testing.assert_array_equal(png_array(off["image"]), image(editor, w))
    np.testing.assert_array_equal(labels_array(off["labels"], SIZE), editor.segment(w)[0].numpy())
    np.testing.assert_array_equal(png_array(client.post(f"/api/sessions/{sid}/apply", json={"scales": {}}).content),
                                  image(editor, w))
    adopted = client.post(f"/api/sessions/{sid}/adopt").json()  # an edit made by G stays with G
    assert not adopted["tunable"] and not adopted["tuned"] and session.tuned is None
    r = client.post(f"/api/sessions/{sid}/tuning", json={"use": True})
    assert r.status_code == 409 and "no tuned generator" in r.json()["detail"]

    upload(client, sid, steps=2, tune=True, tune_steps=3)
    w, tuned = session.wplus, session.tuned
    client.post(f"/api/sessions/{sid}/tuning", json={"use": False})
    on = client.post(f"/api/sessions/{sid}/tuning", json={"use": True}).json()
    assert on["tuned"] and session.use_tuned
    np.testing.assert_array_equal(png_array(on["image"]), image(tuned, w))
    shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 1}).json()  # samples are never tuned
    assert not shown["tunable"] and session.tuned is None
    np.testing.assert_array_equal(png_array(shown["image"]), image(editor, editor.sample(1)))
    assert client.post(f"/api/sessions/{sid}/tuning", json={"use": "no"}).status_code == 422


def test_upload_without_tuning_on_a_faithful_bundle(tmp_path):
    editor = tiny_editor(tmp_path, embedding="faithful")
    with TestClient(create_app(editor)) as client:
        events = upload(client, new_session(client), steps=2, tune=False)
        service = client.app.state.service
    assert [e.get("phase") for e in events if e["event"] == "progress"] == ["embedding"] * 3
    done = events[-1]
    assert not done["tunable"] and done["tune_steps"] == 0 and done["pivot_fidelity"] is None
    assert done["pivot_image"] is None and set(done["fidelity"]) == {"psnr", "distance", "perceptual"}
    assert service.upload_settings().tune_steps == FAITHFUL.tune_steps and service.upload_settings(tune_steps=9).tune_steps == 9


def test_bad_embedding_settings_are_refused(world):
    _, client, _ = world
    sid = new_session(client)
    up = f"/api/sessions/{sid}/upload"

    def post(**data):
        return client.post(up, files={"file": ("a.png", png_file(), "image/png")}, data=data)

    for data, message in [({"tune": "true", "tune_steps": "0"}, "tuning steps must be in [1, 2000], got 0"),
                          ({"tune_steps": "2001"}, "tuning steps must be in [1, 2000], got 2001"),
                          ({"steps": "2001"}, "embedding steps must be in [0, 2000], got 2001")]:
        r = post(**data)
        assert r.status_code == 400 and r.json()["detail"] == message
    for data in ({"tune_steps": "many"}, {"tune": "perhaps"}, {"steps": "1.5"}):
        r = post(**data)
        assert r.status_code == 422 and "\n" not in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}").status_code == 400  # nothing was embedded


def test_cancel_during_tuning_keeps_the_image(world):
    editor, client, service = world
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/sample", json={"seed": 2})
    r = client.post(f"/api/sessions/{sid}/upload", files={"file": ("a.png", png_file(), "image/png")},
                    data={"steps": "1", "tune": "true", "tune_steps": str(MAX_TUNE_STEPS)})
    job = service.jobs.get(r.json()["job_id"])
    deadline = time.monotonic() + 60
    while not any(e.get("phase") == "tuning" for e in list(job.events)):
        assert time.monotonic() < deadline, "tuning never started"
        time.sleep(0.01)
    busy = client.post(f"/api/sessions/{sid}/tuning", json={"use": False})
    assert busy.status_code == 409
    client.post(f"/api/jobs/{job.id}/cancel")
    final = follow(client, job.id)[-1]
    assert final["event"] == "cancelled" and final["message"] == "cancelled"
    shown = client.get(f"/api/sessions/{sid}").json()
    assert shown["source"] == "seed 2" and not shown["tunable"]


def test_concurrent_large_uploads_decode_two_at_a_time_within_the_pixel_bound(tmp_path, monkeypatch):
    """8 uploads at once: at most `decode_slots` decode together, each checked against the pixel bound
    from its header first; so decoding memory stays under slots x max pixels x ~8 bytes."""
    import threading
    import editgan.app.service as service_module
    big = io.BytesIO()
    Image.new("RGB", (1500, 1000), (40, 90, 200)).save(big, format="PNG")  # 1.5 Mpx in a few KB
    decoding, peak, lock, real = [0], [0], threading.Lock(), service_module.load_image

    def counted(*args, **kwargs):
        with lock:
            decoding[0] += 1
            peak[0] = max(peak[0], decoding[0])
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                decoding[0] -= 1
    monkeypatch.setattr(service_module, "load_image", counted)
    editor = tiny_editor(tmp_path)
    with TestClient(create_app(editor, max_upload_pixels=2_000_000, decode_slots=2)) as client:
        assert client.get("/api/info").json()["max_upload_pixels"] == 2_000_000
        sids = [new_session(client) for _ in range(8)]
        answers = [None] * 8

        def post(i):
            answers[i] = client.post(f"/api/sessions/{sids[i]}/upload", data={"steps": "0", "tune": "false"},
                                     files={"file": ("big.png", big.getvalue(), "image/png")})
        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [202] * 8 and 1 <= peak[0] <= 2
        for a in answers:
            assert follow(client, a.json()["job_id"])[-1]["event"] == "done"
        huge = io.BytesIO()
        Image.new("L", (2000, 1500)).save(huge, format="PNG")  # 3 Mpx: refused from its header
        r = client.post(f"/api/sessions/{sids[0]}/upload", files={"file": ("huge.png", huge.getvalue(), "image/png")})
        assert r.status_code == 400 and r.json()["detail"] == ("huge.png: image is 2000x1500; at most 8192 px per "
                                                               "side and 2 Mpx are accepted")
