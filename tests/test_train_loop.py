"""The shared training loop stops after the current step, with a checkpoint, on SIGINT / SIGTERM."""

import os
import signal

import pytest

from editgan.train.loop import run_loop


class CountingTrainer:
    def __init__(self, stop_at: int, sig: int):
        self.step_count, self.train_seconds, self.saved = 0, 0.0, []
        self.stop_at, self.sig = stop_at, sig

    def step(self) -> dict:
        self.step_count += 1
        if self.step_count == self.stop_at:
            os.kill(os.getpid(), self.sig)  # as Ctrl-C or `kill` would, in the middle of training
        return {}

    def save(self, prefix) -> None:
        self.saved.append(self.step_count)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_loop_with_a_checkpoint(sig, tmp_path):
    before = signal.getsignal(sig)
    trainer = CountingTrainer(stop_at=3, sig=sig)
    reason = run_loop(trainer, lambda: trainer.step_count >= 100, checkpoint=tmp_path / "ck", checkpoint_every=2)
    assert reason == "interrupted" and trainer.step_count == 3 and trainer.saved == [2, 3]
    assert signal.getsignal(sig) is before
    again = CountingTrainer(stop_at=0, sig=sig)
    assert run_loop(again, lambda: again.step_count >= 4, checkpoint=tmp_path / "ck") == "done" and again.saved == [4]
