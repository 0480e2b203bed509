"""Tiny GAN training config and an in-memory image source shared by the training tests."""

import torch

from editgan.train.gan import GANTrainConfig

CHANNELS = {4: 16, 8: 16, 16: 8}
TINY_TRAIN = GANTrainConfig(
    generator=dict(resolution=16, z_dim=16, w_dim=16, num_mapping_layers=2, channels=CHANNELS),
    discriminator=dict(channels=CHANNELS), batch=4, pl_weight=2.0, pl_interval=2, r1_interval=2)


class RandomSource:
    """32 fixed random images [3, 16, 16] in [-1, 1]."""

    def __init__(self, n: int = 32, resolution: int = 16):
        self.images = torch.rand(n, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def straight_and_resumed(make, tmp_path, steps: int = 4):
    """(a trainer from make() after `steps` steps; another after steps/2, save, resume, steps/2)."""
    from editgan.train.gan import GANTrainer

    straight = make()
    for _ in range(steps):
        straight.step()
    first = make()
    for _ in range(steps // 2):
        first.step()
    first.save(tmp_path / "ckpt")
    resumed = GANTrainer.from_checkpoint(tmp_path / "ckpt", first.source)
    for _ in range(steps - steps // 2):
        resumed.step()
    for name in ("G", "D", "G_ema"):
        assert params_equal(getattr(straight, name), getattr(resumed, name)), name
    return straight, resumed


def run_torchrun(worker: str, out, nproc: int = 2, env: dict[str, str] | None = None, check: bool = True):
    """Run tests/<worker> under torchrun with `nproc` CPU processes; torchrun --standalone picks a
    free rendezvous port itself (no race with other tests). Fails with the workers' stderr unless not
    check; returns the finished process. env: extra variables for the workers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           str(tests / worker), str(out)]
    proc = subprocess.run(cmd, env=env, timeout=300, capture_output=True, text=True)
    assert not check or proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc
