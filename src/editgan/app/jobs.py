"""Long jobs (embedding an upload, learning an edit, refining) on one background worker thread.

Each job records its events (queued, started, progress..., then exactly one of done / failed /
cancelled) in an append-only list, so any number of readers (SSE streams, status polls) can follow
it from any point by sequence number. Jobs run one
at a time in submission order; the fast paths (sampling, applying vectors) never wait for them.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from editgan.errors import EditGANError

log = logging.getLogger("editgan.app")

FINAL = ("done", "failed", "cancelled")


class JobCancelled(Exception):
    """Raised inside a job's work (e.g. from a progress callback) to stop it at the user's request."""


@dataclass
class Job:
    """One queued unit of work. `work(job)` returns a JSON-able result; it reports `job.progress(...)`
    and stops early via `job.should_stop()` (keeping a partial result) or `job.raise_if_cancelled()`."""

    kind: str
    session_id: str
    total: int
    work: Callable[[Job], dict]
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    status: str = "queued"
    events: list[dict] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def emit(self, event: str, **data) -> None:
        """Record an event; a progress event {step, total} also gets `elapsed_s` since the job started
        and `eta_s`, the time left at the pace so far (null before the first step)."""
        if event == "progress" and self.started is not None and "step" in data:
            elapsed = time.monotonic() - self.started
            step, total = data["step"], data.get("total", self.total)
            data["elapsed_s"] = round(elapsed, 1)
            data["eta_s"] = round(elapsed * (total - step) / step, 1) if 0 < step <= total else None
        with self._lock:
            self.events.append({"event": event, "seq": len(self.events), **data})

    def progress(self, step: int, values: dict[str, float], phase: str | None = None) -> None:
        """Record iterate `step` (0..total) with its loss terms (and the phase of a job that has several)."""
        self.emit("progress", step=step, total=self.total, losses={k: round(float(v), 6) for k, v in values.items()},
                  **({} if phase is None else {"phase": phase}))

    def raise_if_cancelled(self) -> None:
        """For work without a cancel hook: abort (JobCancelled) once cancel was asked."""
        if self.cancel_requested:
            raise JobCancelled

    def should_stop(self) -> bool:
        """For optimisers with a cancel() hook: stop after the current iterate, keeping the best so far."""
        return self.cancel_requested

    def since(self, seen: int) -> tuple[list[dict], bool]:
        """(events from number `seen` on, whether the job has finished). A finished job's final event
        is always among them, even for a reader that asks to skip past it, so every stream ends
        with it."""
        with self._lock:
            events = self.events[max(seen, 0):]
            final = self.events[-1] if self.events and self.events[-1]["event"] in FINAL else None
        return (events or ([final] if final else [])), final is not None

    def summary(self) -> dict:
        last = next((e for e in reversed(self.events) if e["event"] == "progress"), None)
        final = self.events[-1] if self.events and self.events[-1]["event"] in FINAL else None
        return {"id": self.id, "kind": self.kind, "status": self.status, "total": self.total,
                "step": last["step"] if last else None, "result": final}


class JobQueue:
    """A single worker thread running jobs in order; keeps finished jobs for `keep_s` seconds.
    `public(message)` rewrites failure messages for the client (e.g. hides server paths)."""

    def __init__(self, keep_s: float = 600.0, public: Callable[[str], str] = str):
        self.keep_s, self.public = keep_s, public
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="editgan-jobs", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Job:
        with self._lock:
            self._forget_old()
            ahead = sum(j.status not in FINAL for j in self._jobs.values())  # queued or running
            self._jobs[job.id] = job
        job.emit("queued", position=ahead)
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def active(self, session_id: str) -> Job | None:
        """The session's queued or running job, if any."""
        with self._lock:
            return next((j for j in self._jobs.values() if j.session_id == session_id and j.status not in FINAL), None)

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.status not in FINAL:
            job.cancel_requested = True
        return job

    def cancel_session(self, session_id: str) -> None:
        with self._lock:
            for job in self._jobs.values():
                if job.session_id == session_id and job.status not in FINAL:
                    job.cancel_requested = True

    def close(self) -> None:
        """Cancel what is pending and stop the worker after the current job."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel_requested = True
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id in [j.id for j in self._jobs.values() if j.finished is not None and now - j.finished > self.keep_s]:
            del self._jobs[job_id]

    def _finish(self, job: Job, status: str, **data) -> None:
        job.emit(status, **data)  # the final event first: whoever sees the status also finds the event
        job.status, job.finished = status, time.monotonic()

    def _run(self) -> None:
        for job in iter(self._queue.get, None):
            if job.cancel_requested:
                self._finish(job, "cancelled", message="cancelled before it started")
                continue
            job.status, job.started = "running", time.monotonic()
            job.emit("started")
            try:
                result = job.work(job)
            except JobCancelled:
                self._finish(job, "cancelled", message="cancelled")
            except EditGANError as err:
                self._finish(job, "failed", message=self.public(str(err)))
            except Exception as err:  # a bug must not kill the worker; the page gets the message
                log.exception("job %s (%s) crashed", job.id, job.kind)
                self._finish(job, "failed", message=self.public(f"internal error: {type(err).__name__}: {err}"))
            else:
                self._finish(job, "cancelled" if job.cancel_requested else "done", **result)

