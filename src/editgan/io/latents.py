"""Latent files: w+ as safetensors (tensor "wplus" float32 [N, num_ws, w_dim]) or as .npy (the
official EditGAN release's `latents_image_{i}.npy`: one w+ float [num_ws, w_dim], e.g. [16, 512]).
The file suffix picks the format; .npy is read with allow_pickle=False. A safetensors latent of one
image may also carry that image's pivotal tuning (`editgan.io.tuning_files`) and string metadata
(format, version, how it was embedded, how faithful the reconstruction is; paths in it are saved
relative to the file's folder or as bare names). Reading refuses a newer format version
(`editgan.formats`); a safetensors file of another or no format is read as plain tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from editgan.errors import CheckpointError, InputError
from editgan.files import atomic_path, load_tensors, save_tensors
from editgan.formats import CURRENT, LATENT, check_tensor_file, portable_provenance
from editgan.io.tuning_files import read_tuning, tuning_entries
from editgan.nn.tuning import Tuning

KEY = "wplus"


def is_npy(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".npy"


def save_wplus(path: str | Path, wplus: torch.Tensor, *, tuning: Tuning | None = None,
               metadata: dict | None = None, extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Write w+ [N, num_ws, w_dim] (or [num_ws, w_dim]) to `path` atomically: safetensors (with the
    image's tuning, string metadata and extra tensors such as optimised noise maps, if given), or for
    a `.npy` path a float32 array, [num_ws, w_dim] when N is 1 (the release's layout; nothing else)."""
    path = Path(path)
    wplus = wplus.detach().float().cpu()
    if not is_npy(path):
        tensors = {**(extra or {}), KEY: wplus}
        meta = {**(metadata or {}), "format": LATENT, "version": CURRENT[LATENT]}
        if tuning is not None:
            if wplus.ndim == 3 and wplus.shape[0] != 1:
                raise InputError(f"a tuning belongs to one image; got {wplus.shape[0]} w+")
            extra, tuning_meta = tuning_entries(tuning)
            tensors.update(extra)
            meta.update(tuning_meta)
        save_tensors(path, tensors, portable_provenance(meta, path.parent))
        return path
    if tuning is not None or extra:
        raise InputError(f"{path}: .npy latents hold w+ only; save a tuning or noise maps as .safetensors")
    arr = wplus.numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr, allow_pickle=False)
    return path


def load_wplus(path: str | Path, num_ws: int, w_dim: int) -> torch.Tensor:
    """Read w+ as float32 [N, num_ws, w_dim] from a safetensors file holding "wplus" (or exactly one
    tensor) or a .npy array, of shape [N, num_ws, w_dim], [num_ws, w_dim] or w [w_dim] (broadcast).
    CheckpointError for a missing or unreadable file, InputError for a wrong shape or dtype."""
    t = _read_npy(Path(path)) if is_npy(path) else _read_safetensors(path)
    if t.ndim == 1 and t.shape[0] == w_dim:
        t = t.expand(num_ws, w_dim)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or tuple(t.shape[1:]) != (num_ws, w_dim) or not t.dtype.is_floating_point:
        raise InputError(f"latent file {path}: expected w+ [N, {num_ws}, {w_dim}], got {t.dtype} {list(t.shape)}")
    return t.float().contiguous()


def load_tuning(path: str | Path) -> Tuning | None:
    """The pivotal tuning stored in a latent file, or None (a .npy file, or no tuning in it);
    CheckpointError when the file or its tuning is malformed."""
    if is_npy(path):
        return None
    return read_tuning(path, load_tensors(path), check_tensor_file(path, LATENT))


def _read_safetensors(path: str | Path) -> torch.Tensor:
    check_tensor_file(path, LATENT)
    tensors = load_tensors(path)
    if KEY in tensors:
        return tensors[KEY]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    raise InputError(f"latent file {path} holds {sorted(tensors)}; expected one tensor named {KEY!r}")


def _read_npy(path: Path) -> torch.Tensor:
    if not path.is_file():
        raise CheckpointError(f"latent file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CheckpointError(f"{path} is not a readable .npy array ({err})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive under a .npy name
        raise CheckpointError(f"{path} is an .npz archive, not one .npy array")
    if arr.dtype.kind != "f":
        raise InputError(f"latent file {path}: expected a float array, got {arr.dtype} {list(arr.shape)}")
    return torch.from_numpy(arr.astype(np.float32))  # native byte order, any float width
