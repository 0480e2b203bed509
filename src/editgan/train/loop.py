"""The training loop shared by every trainer: step until done or out of time, checkpoint on the way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Protocol


class Trainer(Protocol):
    step_count: int
    train_seconds: float

    def step(self) -> dict[str, float]: ...

    def save(self, prefix: str | Path) -> None: ...


def run_loop(trainer: Trainer, done: Callable[[], bool], *, max_minutes: float | None = None,
             checkpoint: str | Path | None = None, checkpoint_every: int = 0,
             on_step: Callable[[Trainer, dict], None] | None = None) -> str:
    """Call `trainer.step()` until `done()` or `max_minutes` pass; returns "done" or "time limit".

    Adds each step's wall time to `trainer.train_seconds`, calls `on_step(trainer, stats)`, writes
    `checkpoint` every `checkpoint_every` steps and once more when stopping.
    """
    start = time.monotonic()
    reason = "done"
    while not done():
        t0 = time.monotonic()
        stats = trainer.step()
        trainer.train_seconds += time.monotonic() - t0
        if on_step is not None:
            on_step(trainer, stats)
        if checkpoint and checkpoint_every and trainer.step_count % checkpoint_every == 0:
            trainer.save(checkpoint)
        if max_minutes is not None and (time.monotonic() - start) / 60 >= max_minutes:
            reason = "time limit"
            break
    if checkpoint:
        trainer.save(checkpoint)
    return reason
