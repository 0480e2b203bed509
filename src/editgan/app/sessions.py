"""Per-browser-tab editing state, kept in memory and dropped after a period without use.

A session holds the image being edited (its w+ and original segmentation), the last painted label
map, the last optimisation result and the last slider result. Every read-modify-write of a session
happens under its own lock; the store's lock only guards the table of sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import torch

from editgan.edit.optimize import EditResult
from editgan.edit.vectors import EditingVector
from editgan.errors import InputError


@dataclass
class Session:
    """State of one tab. wplus: [1, num_ws, w_dim] of the image being edited (None until a sample or
    upload); labels: its segmentation int64 [H', W']; painted: the label map last sent with an edit;
    result / vector: the last optimisation edit; edited: the w+ currently shown as the edited image."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    source: str = ""
    wplus: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    painted: torch.Tensor | None = None
    result: EditResult | None = None
    vector: EditingVector | None = None
    edited: torch.Tensor | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def set_image(self, wplus: torch.Tensor, labels: torch.Tensor, source: str) -> None:
        """A new image to edit; everything derived from the previous one is dropped."""
        self.wplus, self.labels, self.source = wplus, labels, source
        self.painted = self.result = self.vector = self.edited = None

    def require_image(self) -> torch.Tensor:
        if self.wplus is None:
            raise InputError("this session has no image yet: sample one or upload one first")
        return self.wplus


class SessionStore:
    """Sessions by id; a session unused for `ttl_s` seconds is dropped, and beyond `max_sessions`
    the least recently used ones go first. `on_drop(session_id)` lets the owner cancel its jobs."""

    def __init__(self, ttl_s: float = 3600.0, max_sessions: int = 32, on_drop=None):
        self.ttl_s, self.max_sessions, self.on_drop = ttl_s, max_sessions, on_drop
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(self) -> Session:
        session = Session()
        with self._lock:
            dropped = self._expire()
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.last_used)
                dropped.append(self._sessions.pop(oldest.id).id)
        self._dropped(dropped)
        return session

    def get(self, session_id: str) -> Session:
        """The live session `session_id` (its use time refreshed); SessionNotFound otherwise."""
        with self._lock:
            dropped = self._expire()
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_used = time.monotonic()
        self._dropped(dropped)
        if session is None:
            raise SessionNotFound(f"no session {session_id!r} (it may have expired); reload the page")
        return session

    def delete(self, session_id: str) -> None:
        with self._lock:
            found = self._sessions.pop(session_id, None)
        if found is None:
            raise SessionNotFound(f"no session {session_id!r}")
        self._dropped([session_id])

    def _expire(self) -> list[str]:
        now = time.monotonic()
        stale = [s.id for s in self._sessions.values() if now - s.last_used > self.ttl_s]
        for session_id in stale:
            del self._sessions[session_id]
        return stale

    def _dropped(self, ids: list[str]) -> None:
        if self.on_drop is not None:
            for session_id in ids:
                self.on_drop(session_id)


class SessionNotFound(InputError):
    """The session id is unknown or expired (HTTP 404)."""
