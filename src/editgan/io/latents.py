"""Latent files: one w+ per safetensors file, tensor "wplus" float32 [N, num_ws, w_dim]."""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import InputError
from editgan.files import load_tensors, save_tensors

KEY = "wplus"


def save_wplus(path: str | Path, wplus: torch.Tensor) -> Path:
    """Write w+ [N, num_ws, w_dim] (or [num_ws, w_dim]) to `path` atomically."""
    path = Path(path)
    save_tensors(path, {KEY: wplus.detach().float()}, {"format": "editgan-latent"})
    return path


def load_wplus(path: str | Path, num_ws: int, w_dim: int) -> torch.Tensor:
    """Read w+ as float32 [N, num_ws, w_dim] from a file holding "wplus" (or exactly one tensor)
    of shape [N, num_ws, w_dim], [num_ws, w_dim] or w [w_dim] (broadcast); InputError naming the file."""
    tensors = load_tensors(path)
    if KEY in tensors:
        t = tensors[KEY]
    elif len(tensors) == 1:
        t = next(iter(tensors.values()))
    else:
        raise InputError(f"latent file {path} holds {sorted(tensors)}; expected one tensor named {KEY!r}")
    if t.ndim == 1 and t.shape[0] == w_dim:
        t = t.expand(num_ws, w_dim)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or tuple(t.shape[1:]) != (num_ws, w_dim) or not t.dtype.is_floating_point:
        raise InputError(f"latent file {path}: expected w+ [N, {num_ws}, {w_dim}], got {t.dtype} {list(t.shape)}")
    return t.float().contiguous()
