"""Run by test_encoder under torchrun: a few data-parallel encoder steps, then each rank saves E."""

import sys

import torch
from safetensors.torch import save_file

from conftest import make_tiny_generator
from editgan.runtime.distributed import exit_process, init_from_env, shutdown
from editgan.train.encoder_training import EncoderTrainConfig, EncoderTrainer
from gan_fixtures import RandomSource

out = sys.argv[1]
torch.set_num_threads(1)
dist = init_from_env(torch.device("cpu"))
G = make_tiny_generator(resolution=16, channels={4: 16, 8: 16, 16: 8})
config = EncoderTrainConfig(encoder=dict(channels=4, max_channels=8, fpn_channels=8), batch=4, lr=1e-3, warmup=1)
trainer = EncoderTrainer(config, G, RandomSource(), dist=dist)
trainer.run(3)
save_file({k: v.contiguous() for k, v in trainer.E.state_dict().items()}, f"{out}/rank{dist.rank}.safetensors")
shutdown()
exit_process(0)  # as the `editgan` command ends: no interpreter finalisation after a process group
