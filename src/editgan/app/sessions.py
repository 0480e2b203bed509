"""Per-browser-tab editing state, kept in memory and dropped after a period without use.

A full table makes room for a new session only by evicting an idle one (no job, unused for
`recent_s`); when every session is busy or recent, new ones are refused (HTTP 503).

A session holds the image being edited (its w+, the generator that draws it and its original
segmentation), the last painted label map, the last optimisation result and the last slider
result. Every read-modify-write of a session happens under its own lock; the store's lock only
guards the table of sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import torch

from editgan.edit.optimize import EditResult
from editgan.edit.vectors import EditingVector
from editgan.editor import Editor
from editgan.errors import EditGANError, InputError


@dataclass
class Session:
    """State of one tab. wplus: [1, num_ws, w_dim] of the image being edited (None until a sample or
    upload); labels: its segmentation int64 [H', W']; painted: the label map last sent with an edit;
    result / vector: the last optimisation edit; edited: the w+ currently shown as the edited image.
    tuned: the Editor view with G' of a pivotally tuned upload (`Editor.tuned`; None for samples and
    untuned uploads), kept for the image and the edits adopted from it; use_tuned: whether G' draws
    the image (else the bundle's G draws the W+ pivot alone)."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    source: str = ""
    wplus: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    painted: torch.Tensor | None = None
    result: EditResult | None = None
    vector: EditingVector | None = None
    edited: torch.Tensor | None = None
    tuned: Editor | None = None
    use_tuned: bool = False
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def set_image(self, wplus: torch.Tensor, labels: torch.Tensor, source: str, tuned: Editor | None = None,
                  use_tuned: bool = True) -> None:
        """A new image to edit (with its tuned view, if any, and whether it draws the image);
        everything derived from the previous one is dropped."""
        self.wplus, self.labels, self.source = finite(wplus, "image"), labels, source
        self.tuned, self.use_tuned = tuned, tuned is not None and use_tuned
        self.painted = self.result = self.vector = self.edited = None

    def set_edited(self, wplus: torch.Tensor, base: torch.Tensor) -> None:
        """Show `wplus` as the edited image if the image it was computed from, `base`, is still the
        one being edited."""
        if self.wplus is base:
            self.edited = finite(wplus, "edited image")

    def require_image(self) -> torch.Tensor:
        if self.wplus is None:
            raise InputError("this session has no image yet: sample one or upload one first")
        return self.wplus

    def drawn_by(self, editor: Editor) -> Editor:
        """The Editor that draws the image: the tuned view when in use, else `editor` (the service's)."""
        return self.tuned if self.use_tuned else editor


def finite(wplus: torch.Tensor, what: str) -> torch.Tensor:
    """`wplus` if all its values are finite, else InputError (kept out of the session)."""
    if not torch.isfinite(wplus).all():
        raise InputError(f"the {what}'s latent w+ is not finite (scales too large?); it was not kept")
    return wplus


class SessionStore:
    """Sessions by id. A session unused for `ttl_s` seconds is dropped unless `busy(session_id)` (it
    has a queued or running job); with `max_sessions` live, a new one evicts the least recently used
    idle session (not busy, unused for `recent_s`) or is refused with TooManySessions.
    `on_drop(session_id)` lets the owner cancel its jobs."""

    def __init__(self, ttl_s: float = 3600.0, max_sessions: int = 32, on_drop=None, busy=None,
                 recent_s: float = 300.0):
        self.ttl_s, self.max_sessions, self.on_drop, self.recent_s = ttl_s, max_sessions, on_drop, recent_s
        self.busy = busy or (lambda session_id: False)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(self) -> Session:
        session = Session()
        with self._lock:
            dropped = self._expire()
            full = len(self._sessions) >= self.max_sessions
            idle = self._idlest() if full else None
            if idle is not None:
                dropped.append(self._sessions.pop(idle).id)
            if not full or idle is not None:
                self._sessions[session.id] = session
        self._dropped(dropped)
        if full and idle is None:
            raise TooManySessions(f"the server already has {self.max_sessions} sessions in use (its limit); "
                                  "try again in a few minutes or close another tab")
        return session

    def _idlest(self) -> str | None:
        """The least recently used session without a job and unused for `recent_s`, if any."""
        now = time.monotonic()
        idle = [s for s in self._sessions.values() if now - s.last_used > self.recent_s and not self.busy(s.id)]
        return min(idle, key=lambda s: s.last_used).id if idle else None

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
        stale = [s.id for s in self._sessions.values() if now - s.last_used > self.ttl_s and not self.busy(s.id)]
        for session_id in stale:
            del self._sessions[session_id]
        return stale

    def _dropped(self, ids: list[str]) -> None:
        if self.on_drop is not None:
            for session_id in ids:
                self.on_drop(session_id)


class SessionNotFound(InputError):
    """The session id is unknown or expired (HTTP 404)."""


class TooManySessions(EditGANError):
    """Every session slot holds a busy or recently used session (HTTP 503)."""
