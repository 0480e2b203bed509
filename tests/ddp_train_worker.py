"""Run by test_gan_training under torchrun: a few DDP steps, then each rank saves its weights."""

import sys

import torch
from safetensors.torch import save_file

from editgan.runtime.distributed import exit_process, init_from_env, shutdown
from editgan.train.gan import GANTrainer
from gan_fixtures import TINY_TRAIN, RandomSource

out = sys.argv[1]
torch.set_num_threads(1)
dist = init_from_env(torch.device("cpu"))
trainer = GANTrainer(TINY_TRAIN, RandomSource(), dist=dist)
for _ in range(3):
    trainer.step()
state = {f"G.{k}": v for k, v in trainer.G.state_dict().items()}
state.update({f"D.{k}": v for k, v in trainer.D.state_dict().items()})
save_file({k: v.contiguous() for k, v in state.items()}, f"{out}/rank{dist.rank}.safetensors")
shutdown()
exit_process(0)  # as the `editgan` command ends: no interpreter finalisation after a process group
