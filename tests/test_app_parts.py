"""The web tool's pieces on their own: the label-map wire format, the difference view, session
expiry and the job worker (order, failures, cancellation)."""

import base64
import threading
import time

import numpy as np
import pytest

from edit_fixtures import SCHEME
from editgan.app.codec import decode_labels, difference, encode_labels
from editgan.app.jobs import Job, JobQueue
from editgan.app.service import fallback_scheme
from editgan.app.sessions import SessionNotFound, SessionStore
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


def test_sessions_expire_and_least_recent_is_evicted():
    dropped = []
    store = SessionStore(ttl_s=0.2, max_sessions=2, on_drop=dropped.append)
    a, b = store.create(), store.create()
    time.sleep(0.05)
    store.get(a.id)  # a is now the most recently used
    c = store.create()  # over the limit: b goes
    assert dropped == [b.id] and len(store) == 2
    with pytest.raises(SessionNotFound):
        store.get(b.id)
    time.sleep(0.25)
    with pytest.raises(SessionNotFound, match="expired"):
        store.get(c.id)
    assert sorted(dropped) == sorted([a.id, b.id, c.id]) and len(store) == 0


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
