"""Data-parallel helpers for torchrun: process group setup and gradient averaging.

Run single-process as usual, or `torchrun --nproc_per_node N -m editgan.cli train gan ...`:
each rank trains on its share of every batch and gradients are averaged with all_reduce
(gloo on CPU, NCCL on CUDA), so all ranks keep identical weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """All-reduce the gradients of `params` (one flat buffer) and divide by the world size."""
    if info.world_size == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if info.world_size == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def all_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging and running statistics)."""
    value = value.detach()
    if info.world_size == 1:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value / info.world_size


def local_slice(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's equal share of a global batch tensor [N, ...] -> [N / world_size, ...]."""
    per = x.shape[0] // info.world_size
    return x[info.rank * per:(info.rank + 1) * per]


def shutdown() -> None:
    """Leave the process group cleanly (a live gloo group at interpreter exit can abort the process)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
