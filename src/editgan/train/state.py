"""Training checkpoints without pickle: nested state (module/optimizer state dicts, RNG states,
counters) flattened into one safetensors file of tensors plus one JSON file of everything else.

`save_state(path_prefix, state)` writes `<prefix>.safetensors` and `<prefix>.json` atomically
(JSON last, so a checkpoint is complete exactly when its JSON exists).
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.files import load_tensors, read_json, save_tensors, write_json

_TENSOR = "__tensor__"


def _flatten(obj, prefix: str, tensors: dict[str, torch.Tensor]):
    """Replace tensors by {"__tensor__": key} references, collecting them into `tensors`."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "root"
        tensors[key] = obj
        return {_TENSOR: key}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"state key {k!r} at {prefix!r} must be str or int")
            out[f"{'#' if isinstance(k, int) else ''}{k}"] = _flatten(v, f"{prefix}.{k}" if prefix else str(k), tensors)
        return out
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def _unflatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            if obj[_TENSOR] not in tensors:
                raise CheckpointError(f"checkpoint JSON refers to missing tensor {obj[_TENSOR]!r}")
            return tensors[obj[_TENSOR]]
        return {(int(k[1:]) if k.startswith("#") else k): _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(prefix: str | Path, state: dict) -> None:
    """Write a nested state dict as `<prefix>.safetensors` + `<prefix>.json`."""
    prefix = Path(prefix)
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, "", tensors)
    # safetensors refuses tensors sharing memory; checkpoints are small enough to copy.
    save_tensors(prefix.with_suffix(".safetensors"), {k: v.clone() for k, v in tensors.items()})
    write_json(prefix.with_suffix(".json"), {"format": "editgan-train-state", "version": 1, "state": tree})


def load_state(prefix: str | Path) -> dict:
    """Read a state written by `save_state`; CheckpointError if incomplete or malformed."""
    prefix = Path(prefix)
    meta = read_json(prefix.with_suffix(".json"))
    if meta.get("format") != "editgan-train-state":
        raise CheckpointError(f"{prefix.with_suffix('.json')} is not an editgan training checkpoint")
    return _unflatten(meta["state"], load_tensors(prefix.with_suffix(".safetensors")))


def load_state_config(prefix: str | Path) -> dict:
    """The "config" entry of a state written by `save_state`, without reading its tensors."""
    prefix = Path(prefix)
    meta = read_json(prefix.with_suffix(".json"))
    if meta.get("format") != "editgan-train-state" or "config" not in meta.get("state", {}):
        raise CheckpointError(f"{prefix.with_suffix('.json')} is not an editgan training checkpoint")
    return _unflatten(meta["state"]["config"], {})
