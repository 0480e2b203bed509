"""Training checkpoints without pickle: nested state (module/optimizer state dicts, RNG states,
counters) flattened into one safetensors file of tensors plus one JSON file of everything else.

`save_state(path_prefix, state)` writes `<prefix>.safetensors` and `<prefix>.json` atomically
(JSON last, so a checkpoint is complete exactly when its JSON exists). The JSON records the
format version; loading refuses a newer one (`editgan.formats`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.files import load_tensors, read_json, save_tensors, write_json
from editgan.formats import CURRENT, TRAIN_STATE, upgrade

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
    write_json(prefix.with_suffix(".json"), {"format": TRAIN_STATE, "version": CURRENT[TRAIN_STATE], "state": tree})


def _read_meta(prefix: Path, needs: str | None = None) -> dict:
    """The checkpoint's JSON at the current format version (its state holding `needs`, if given);
    CheckpointError if it is not a training checkpoint or is too new."""
    path = prefix.with_suffix(".json")
    meta = read_json(path)
    if meta.get("format") != TRAIN_STATE or not isinstance(meta.get("state"), dict) \
            or (needs is not None and needs not in meta["state"]):
        raise CheckpointError(f"{path} is not an editgan training checkpoint")
    return upgrade(meta, TRAIN_STATE, path)


def load_state(prefix: str | Path) -> dict:
    """Read a state written by `save_state`; CheckpointError if incomplete or malformed."""
    prefix = Path(prefix)
    return _unflatten(_read_meta(prefix)["state"], load_tensors(prefix.with_suffix(".safetensors")))


def load_state_config(prefix: str | Path) -> dict:
    """The "config" entry of a state written by `save_state`, without reading its tensors."""
    return _unflatten(_read_meta(Path(prefix), needs="config")["state"]["config"], {})
