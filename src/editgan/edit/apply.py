"""Applying editing vectors: w+_edited = w+ + Σ_i s_i δw+_i (EditGAN Sec. 3.4, composition by summation)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch

from editgan.edit.vectors import EditingVector
from editgan.errors import InputError

Vector = EditingVector | torch.Tensor


def apply_vectors(wplus: torch.Tensor,
                  vectors: Mapping[Vector, float | torch.Tensor] | Iterable[tuple[Vector, float | torch.Tensor]]
                  ) -> torch.Tensor:
    """wplus [N, num_ws, w_dim] or [num_ws, w_dim] plus the scaled sum of editing vectors.

    vectors: {vector: scale} or (vector, scale) pairs; a vector is an EditingVector or a tensor
    [num_ws, w_dim]; a scale is any finite number (negative reverses the edit) or a 0-dim tensor
    (differentiable, e.g. for refinement). Returns a new tensor of wplus's shape, dtype and device.
    """
    if not isinstance(wplus, torch.Tensor) or wplus.ndim not in (2, 3) or not wplus.dtype.is_floating_point:
        raise InputError("w+ must be a float tensor [N, num_ws, w_dim] or [num_ws, w_dim]")
    pairs = vectors.items() if isinstance(vectors, Mapping) else vectors
    out = wplus
    for vector, scale in pairs:
        delta = vector.delta if isinstance(vector, EditingVector) else vector
        if not isinstance(delta, torch.Tensor) or tuple(delta.shape) != tuple(wplus.shape[-2:]):
            got = list(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__
            raise InputError(f"editing vector shape {got} does not fit w+ {list(wplus.shape)} "
                             f"(needs {list(wplus.shape[-2:])})")
        if isinstance(scale, torch.Tensor):
            if scale.ndim != 0 or not torch.isfinite(scale.detach()):
                raise InputError("a tensor scale must be a finite 0-dim tensor")
        elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
            raise InputError(f"scale must be a finite number, got {scale!r}")
        out = out + scale * delta.to(device=wplus.device, dtype=wplus.dtype)
    return out
