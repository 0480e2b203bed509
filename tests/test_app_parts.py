"""The web tool's pieces on their own: the label-map wire format, the difference view, session
expiry and eviction, job events and the job worker (order, failures, cancellation), the body size
limit and the server-path redactor."""

import asyncio
import base64
import itertools
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edit_fixtures import SCHEME
from editgan.app.codec import decode_labels, difference, encode_labels
from editgan.app.jobs import Job, JobQueue
from editgan.app.limits import BodyLimit
from editgan.app.redact import Redactor
from editgan.app.service import fallback_scheme
from editgan.app.sessions import SessionNotFound, SessionStore, TooManySessions
from editgan.errors import InputError


def test_labels_round_trip_and_errors():
    labels = np.arange(12).reshape(3, 4) % 3
    text = encode_labels(labels)
    assert base64.b64decode(text) == bytes([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(decode_labels(text, 3, 4, SCHEME, 3).numpy(), labels)
    with pytest.raises(InputError, match=r"hold 12 values; this bundle's label map is 4x4 \(HxW\) = 16"):
        decode_labels(text, 4, 4, SCHEME, 3)
    with pytest.raises(InputError, match=r"labels \[5\] outside scheme 'three'"):
        decode_labels(encode_labels(labels + 3 * (labels == 2)), 3, 4, SCHEME, 3)
    with pytest.raises(InputError, match=">= 2"):
        decode_labels(text, 3, 4, None, 2)
    with pytest.raises(InputError, match="not valid base64"):
        decode_labels("abc$", 3, 4, SCHEME, 3)


def test_difference_is_gained_channel_max():
    before = np.zeros((1, 3, 3), np.uint8)
    after = np.array([[[10, 0, 3], [0, 0, 0], [200, 255, 7]]], np.uint8)
    before[0, 1] = [5, 90, 1]
    np.testing.assert_array_equal(difference(before, after), [[40, 255, 255]])  # 4*10, 4*90 clipped, 4*255 clipped
    np.testing.assert_array_equal(difference(after, after), [[0, 0, 0]])


def test_fallback_scheme_names_and_distinct_colours():
    scheme = fallback_scheme(5)
    assert scheme.names == ("0", "1", "2", "3", "4") and len(set(scheme.colors)) == 5


def test_sessions_expire_and_only_idle_ones_are_evicted():
    dropped, busy = [], set()
    store = SessionStore(ttl_s=0.6, max_sessions=2, on_drop=dropped.append, busy=busy.__contains__, recent_s=0.2)
    a, b = store.create(), store.create()
    with pytest.raises(TooManySessions, match="already has 2 sessions in use"):
        store.create()  # both were used recently: nobody is evicted
    assert dropped == [] and len(store) == 2
    time.sleep(0.3)
    busy.add(b.id)  # b has a running job: never evicted, not even when it is the least recently used
    store.get(a.id)
    with pytest.raises(TooManySessions):
        store.create()
    time.sleep(0.3)
    c = store.create()  # a is idle now: it goes
    assert dropped == [a.id] and len(store) == 2
    with pytest.raises(SessionNotFound):
        store.get(a.id)
    time.sleep(0.8)
    with pytest.raises(SessionNotFound, match="expired"):
        store.get(c.id)
    store.get(b.id)  # a busy session outlives the time limit
    busy.clear()
    time.sleep(0.8)
    with pytest.raises(SessionNotFound):
        store.get(b.id)
    assert sorted(dropped) == sorted([a.id, b.id, c.id]) and len(store) == 0


def test_finished_job_events_always_end_with_the_final_one():
    job = Job("a", "s", 0, lambda job: {})
    job.emit("queued")
    job.emit("started")
    assert job.since(0) == (job.events, False) and job.since(5) == ([], False)
    job.emit("done", n=1)
    final = job.events[-1]
    assert job.since(1) == (job.events[1:], True)
    assert job.since(3) == ([final], True) and job.since(99) == ([final], True)


def body_limit_run(chunks, limit=100, **headers):
    """Run BodyLimit around an app that reads the whole body; -> (messages sent, chunks read)."""
    sent, read = [], []

    async def app(scope, receive, send):
        while (message := await receive())["more_body"]:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        read.append(next(chunks))
        return {"type": "http.request", "body": read[-1], "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(BodyLimit(app, limit=limit, shown=90)(scope, receive, send))
    return sent, read


def test_body_limit_stops_reading_a_chunked_body_at_the_limit():
    sent, read = body_limit_run(itertools.repeat(b"x" * 30))  # an endless body without a Content-Length
    assert len(read) == 4 and sent[0]["status"] == 413 and len(sent) == 2
    assert json.loads(sent[1]["body"]) == {"detail": "the request body is larger than the 90 bytes accepted"}
    sent, read = body_limit_run(iter([]), **{"content-length": "101"})
    assert read == [] and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"] == "the request body is 101 bytes; at most 90 are accepted"


def test_redactor_hides_server_paths():
    redact = Redactor({Path("/srv/b/toonfaces"): "toonfaces", Path("/home/u/.local/share/editgan/lib"): "vectors"})
    assert redact("/srv/b/toonfaces/vectors/a.json does not match /home/u/.local/share/editgan/lib/a.safetensors") \
        == "toonfaces/vectors/a.json does not match vectors/a.safetensors"
    assert redact("file not found: /opt/w/model_ir_se50.pth") == "file not found: model_ir_se50.pth"
    kept = "invalid vector name '../evil' or 'a/b' (image/png, 1/2)"
    assert redact(kept) == kept


def test_job_queue_runs_in_order_reports_failures_and_cancels():
    jobs = JobQueue()
    gate, order = threading.Event(), []

    def blocked(job):
        gate.wait(10)
        order.append("first")
        return {"n": 1}

    def failing(job):
        order.append("second")
        raise InputError("bad thing")

    def crashing(job):
        raise ZeroDivisionError("oops")

    def cooperative(job):
        for step in range(1000):
            job.progress(step, {"loss": 1.0 / (step + 1)})
            if job.should_stop():
                return {"stopped_at": step}
            time.sleep(0.001)
        return {"stopped_at": None}

    first = jobs.submit(Job("a", "s1", 0, blocked))
    second = jobs.submit(Job("b", "s1", 0, failing))
    skipped = jobs.submit(Job("c", "s2", 0, crashing))
    assert jobs.active("s2") is skipped
    assert [j.events[0] for j in (first, second, skipped)] == [
        {"event": "queued", "seq": 0, "position": n} for n in range(3)]
    jobs.cancel(skipped.id)
    gate.set()
    deadline = time.monotonic() + 10
    while skipped.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order == ["first", "second"]
    assert first.events[-1] == {"event": "done", "seq": 2, "n": 1} and first.status == "done"
    assert second.events[-1]["event"] == "failed" and second.events[-1]["message"] == "bad thing"
    assert skipped.events[-1]["event"] == "cancelled" and skipped.events[-1]["message"] == "cancelled before it started"
    crash = jobs.submit(Job("d", "s3", 0, crashing))
    coop = jobs.submit(Job("e", "s3", 1000, cooperative))
    while not any(e["event"] == "progress" for e in coop.events) and time.monotonic() < deadline:
        time.sleep(0.005)
    jobs.cancel(coop.id)
    while coop.status not in ("done", "cancelled", "failed") and time.monotonic() < deadline:
        time.sleep(0.005)
    assert crash.events[-1]["message"] == "internal error: ZeroDivisionError: oops"
    assert coop.status == "cancelled" and coop.events[-1]["stopped_at"] < 999
    assert coop.summary()["step"] == coop.events[-1]["stopped_at"] and jobs.active("s3") is None
    jobs.close()


def test_progress_events_carry_elapsed_time_and_an_eta():
    jobs = JobQueue()

    def paced(job):
        for step in range(1, 5):
            time.sleep(0.05)
            job.progress(step, {"loss": 1.0})
        return {}

    job = jobs.submit(Job("paced", "s", 4, paced))
    deadline = time.monotonic() + 10
    while job.status != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
    progress = [e for e in job.events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4] and progress[-1]["eta_s"] == 0
    first = progress[0]  # one step of four after ~0.05 s: about three more steps' time left
    assert first["elapsed_s"] >= 0.0 and first["eta_s"] == pytest.approx(3 * first["elapsed_s"], abs=0.2)
    jobs.close()
