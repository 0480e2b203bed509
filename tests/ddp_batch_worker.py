"""Run by test_batch (under torchrun or alone): `editgan batch apply` on the world in argv[1], writing
to <root>/out<WORLD_SIZE>/ with 2 refinement steps; each rank records its exit code (or the exception
that escaped) and ends through `exit_process`, as the `editgan` command does: status 0 once the code is
recorded, 1 after an escaped error.
EDITGAN_TEST_FAIL_RANK=<r>: rank r raises inside its work (the teardown on error)."""

import os
import sys
import traceback
from pathlib import Path

import torch

from batch_fixtures import batch_args
from editgan.cli import main
from editgan.edit.batch import BatchRunner
from editgan.runtime.distributed import exit_process

root = Path(sys.argv[1])
torch.set_num_threads(1)
world = os.environ.get("WORLD_SIZE", "1")
rank = os.environ.get("RANK", "0")
if os.environ.get("EDITGAN_TEST_FAIL_RANK") == rank:
    def broken(self, path):
        raise RuntimeError(f"injected failure on rank {rank}")
    BatchRunner.run_input = broken
try:
    (root / f"rc{world}.rank{rank}").write_text(str(main(batch_args(root, root / f"out{world}", refine=2))))
    code = 0
except Exception as err:  # noqa: BLE001 - recorded for the test, then the same exit path
    traceback.print_exc()
    (root / f"rc{world}.rank{rank}").write_text(f"{type(err).__name__}: {err}")
    code = 1
exit_process(code)
