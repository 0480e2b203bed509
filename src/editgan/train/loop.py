"""The training loop shared by every trainer: step until done, out of time or asked to stop (Ctrl-C,
SIGTERM), checkpoint on the way and at the end."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol


class Trainer(Protocol):
    step_count: int
    train_seconds: float

    def step(self) -> dict[str, float]: ...

    def save(self, prefix: str | Path) -> None: ...


@contextlib.contextmanager
def stop_requests() -> Iterator[list[int]]:
    """While active, SIGINT / SIGTERM are recorded (in the yielded list) instead of killing the process,
    so the loop can stop after the current step with a checkpoint; the previous handlers come back
    afterwards. Outside the main thread signals cannot be caught: nothing is installed."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, lambda number, frame: received.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_loop(trainer: Trainer, done: Callable[[], bool], *, max_minutes: float | None = None,
             checkpoint: str | Path | None = None, checkpoint_every: int = 0,
             on_step: Callable[[Trainer, dict], None] | None = None) -> str:
    """Call `trainer.step()` until `done()` or `max_minutes` pass or SIGINT / SIGTERM arrives; returns
    "done", "time limit" or "interrupted".

    Adds each step's wall time to `trainer.train_seconds`, calls `on_step(trainer, stats)`, writes
    `checkpoint` every `checkpoint_every` steps and once more when stopping.
    """
    start = time.monotonic()
    reason = "done"
    with stop_requests() as signals:
        while not done():
            t0 = time.monotonic()
            stats = trainer.step()
            trainer.train_seconds += time.monotonic() - t0
            if on_step is not None:
                on_step(trainer, stats)
            if checkpoint and checkpoint_every and trainer.step_count % checkpoint_every == 0:
                trainer.save(checkpoint)
            if signals:
                reason = "interrupted"
                break
            if max_minutes is not None and (time.monotonic() - start) / 60 >= max_minutes:
                reason = "time limit"
                break
        if checkpoint:
            trainer.save(checkpoint)
    return reason
