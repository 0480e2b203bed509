"""Run by test_batch (under torchrun or alone): `editgan batch apply` on the world in argv[1], writing
to <root>/out<WORLD_SIZE>/ with 2 refinement steps; each rank records its exit code."""

import os
import sys
from pathlib import Path

import torch

from batch_fixtures import batch_args
from editgan.cli import main

root = Path(sys.argv[1])
torch.set_num_threads(1)
world = os.environ.get("WORLD_SIZE", "1")
code = main(batch_args(root, root / f"out{world}", refine=2))
(root / f"rc{world}.rank{os.environ.get('RANK', '0')}").write_text(str(code))
