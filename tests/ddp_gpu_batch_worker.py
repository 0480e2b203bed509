"""Run by test_gpu (under torchrun): `editgan batch apply --device $EDITGAN_WORKER_DEVICE` on the batch
world in argv[1] (no refinement), writing to <root>/out-<device>-<WORLD_SIZE>/; each rank records its exit code."""

import os
import sys
from pathlib import Path

import torch

from batch_fixtures import batch_args
from editgan.cli import main
from editgan.runtime.distributed import exit_process

root = Path(sys.argv[1])
torch.set_num_threads(1)
device = os.environ.get("EDITGAN_WORKER_DEVICE", "cuda")
world, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK", "0")
code = "not run"
try:
    code = str(main(batch_args(root, root / f"out-{device}-{world}", refine=0) + ["--device", device]))
finally:
    (root / f"rc-{device}-{world}.rank{rank}").write_text(code)
exit_process(0)  # as the `editgan` command ends: no interpreter finalisation after a process group
