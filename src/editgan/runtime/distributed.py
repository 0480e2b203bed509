"""Data-parallel helpers for torchrun: process group setup and gradient averaging.

Run single-process as usual, or `torchrun --nproc_per_node N -m editgan.cli train gan ...`:
each rank trains on its share of every batch and gradients are averaged with all_reduce
(gloo on CPU, NCCL on CUDA), so all ranks keep identical weights.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from editgan.errors import EditGANError

_joined_group = False  # set once this process has joined a torchrun process group (`init_from_env`)


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
    global _joined_group
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    _joined_group = True
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
    """Leave the process group cleanly: a barrier (every rank has finished its collectives), then
    `destroy_process_group`, which runs even when the barrier fails (a peer already gone), so that no
    live gloo group is left to the interpreter's exit (where it can abort the process). A no-op when
    no group is initialised; safe to call twice."""
    if not dist.is_initialized():
        return
    try:
        with contextlib.suppress(Exception):  # a failed barrier must not keep the group alive
            dist.barrier()
    finally:
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End the process with exit status `code`: `sys.exit`, except in a process that joined a torchrun
    group, which flushes stdout/stderr and leaves with `os._exit`. There the interpreter's own
    finalisation can abort after a clean `shutdown` (torch 2.13, gloo: SIGABRT with "terminate called
    without an active exception", about 1 run in 20 on a loaded 2-core machine), which turns a finished
    run into a failed one; every command has written its files (atomically) before it returns."""
    if not _joined_group:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def error_line(err: BaseException) -> str:
    """How an error is reported across ranks: its message, with the type for unexpected errors."""
    return str(err) if isinstance(err, EditGANError) else f"{type(err).__name__}: {err}"


def gather_outcomes(result: Any, error: BaseException | None, info: DistInfo) -> list[tuple[Any, str | None]]:
    """Every rank's (result, error line or None), in rank order. The one collective after each rank's
    own work: every rank calls it exactly once, whether its work succeeded or raised, so an error on
    one rank never leaves the others waiting in a collective it will not reach."""
    outcome = (result, None if error is None else error_line(error))
    if info.world_size == 1:
        return [outcome]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, outcome)
    return gathered


class RankFailed(EditGANError):
    """Another rank's work raised: names the rank and its error line."""


@contextmanager
def process_group(device: torch.device) -> Iterator[DistInfo]:
    """`init_from_env`, then `shutdown` on every exit path (return, error, Ctrl-C)."""
    info = init_from_env(device)
    try:
        yield info
    finally:
        shutdown()


def run_on_every_rank(work: Callable[[], Any], info: DistInfo) -> list[Any]:
    """Run this rank's `work()`, then exchange outcomes with `gather_outcomes`: every rank's result, in
    rank order. If this rank's work raised, that error is re-raised (after the exchange); if only another
    rank's did, RankFailed names it. Either way every rank has left its collectives, so the caller's
    `shutdown` (barrier, destroy) tears down cleanly on all ranks."""
    error: BaseException | None = None
    result = None
    try:
        result = work()
    except Exception as err:  # noqa: BLE001 - reported to the other ranks, then re-raised below
        error = err
    outcomes = gather_outcomes(result, error, info)
    if error is not None:
        raise error
    failed = [(rank, line) for rank, (_, line) in enumerate(outcomes) if line is not None]
    if failed:
        raise RankFailed("; ".join(f"rank {rank} failed: {line}" for rank, line in failed))
    return [r for r, _ in outcomes]
