"""Reading ArcFace IR-SE50 weights: InsightFace_Pytorch's `model_ir_se50.pth` (the file pSp and EditGAN use).

The file is a state dict whose names and shapes are those of `editgan.nn.irse.IRSE50` (listed in
that module). It is read with `torch.load(weights_only=True)`, which runs no code; BatchNorm's
`num_batches_tracked` counters are optional (files saved before torch 0.4.1 lack them). Anything
else -- not a dict of tensors, missing or unexpected keys, wrong shapes, non-finite values -- raises
CheckpointError naming the file and the first offending keys.
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import one_line_errors
from editgan.io.torch_files import load_torch_file
from editgan.nn.irse import IRSE50

ARCFACE_FILE = "model_ir_se50.pth"
OPTIONAL = "num_batches_tracked"


def _listing(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


@one_line_errors
def load_arcface(path: str | Path) -> IRSE50:
    """IR-SE50 with the weights of `path`, in eval mode with frozen parameters."""
    path = Path(path)
    state = load_torch_file(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not an ArcFace IR-SE50 state dict (a dict of tensors, as in {ARCFACE_FILE})")
    net = IRSE50()
    expected = {k: v.shape for k, v in net.state_dict().items()}
    required = {k for k in expected if not k.endswith(OPTIONAL)}
    missing, unexpected = required - set(state), set(state) - set(expected)
    if missing or unexpected:
        parts = [f"missing {_listing(missing)}" if missing else "", f"unexpected {_listing(unexpected)}" if unexpected else ""]
        raise CheckpointError(f"{path} is not in the IR-SE50 layout of {ARCFACE_FILE}: "
                              + "; ".join(p for p in parts if p))
    wrong = [f"{k} {list(v.shape)} (needs {list(expected[k])})" for k, v in state.items() if v.shape != expected[k]]
    if wrong:
        raise CheckpointError(f"{path}: wrong shapes for the IR-SE50 layout: {', '.join(wrong[:5])}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: non-finite values in {_listing(bad)}")
    net.load_state_dict(state, strict=False)
    return net.eval().requires_grad_(False)
