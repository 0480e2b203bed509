"""Precisions: the dtype that the networks' layers run in while weights, optimised latents,
optimisers and losses stay float32 (training, and the Editor's embedding, editing and rendering).
"bf16" pays only where the hardware has fast bfloat16."""

from __future__ import annotations

import contextlib

import torch

from editgan.errors import ConfigError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def check_precision(name: str) -> None:
    """ConfigError unless `name` is one of PRECISIONS."""
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {sorted(PRECISIONS)}, got {name!r}")


def fast_bf16(device: str | torch.device) -> bool:
    """Whether bfloat16 convs beat float32 on `device`: a CUDA GPU with bf16, or a CPU with AVX-512
    BF16 or AMX (measured 1.5-2.7x faster there; without them oneDNN emulates bf16, and a 128-px
    training step ran 15x SLOWER than in float32 on an AVX2-only EPYC)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return device.type == "cpu" and any(probe() for probe in probes if probe is not None)


def choose_precision(requested: str, device: str | torch.device) -> str:
    """"auto" -> "bf16" where `fast_bf16(device)`, else "fp32"; "fp32"/"bf16" are kept as asked."""
    if requested == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if requested not in PRECISIONS:
        raise ConfigError(f"precision must be auto or one of {sorted(PRECISIONS)}, got {requested!r}")
    return requested


def layer_dtype(precision: str) -> torch.dtype | None:
    """The dtype to pass as `dtype=` to the networks for a resolved precision: None for "fp32" (the
    layers keep their weights' dtype, exact), else the lower-precision dtype."""
    check_precision(precision)
    return None if precision == "fp32" else PRECISIONS[precision]


def autocast(precision: str, device: torch.device):
    """A context running torch's layers (nn.Conv2d, nn.Linear) in `precision` on `device`; fp32: none."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])
