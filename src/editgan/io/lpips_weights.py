"""Finding and reading the two weight files of LPIPS-VGG.

1. VGG16 trunk, torchvision's ImageNet checkpoint `vgg16-397923af.pth`: a state dict with
   `features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.weight/bias` (shapes in `editgan.nn.vgg`);
   the `classifier.*` keys are ignored. Looked up, first hit wins:
     the `vgg16` argument; $EDITGAN_VGG16_WEIGHTS; <torch hub dir>/checkpoints/vgg16-397923af.pth
   (the torch hub dir is $TORCH_HOME/hub, default ~/.cache/torch/hub, where torchvision caches it).
2. LPIPS v0.1 linear heads, the `lpips` package's `lpips/weights/v0.1/vgg.pth`: a state dict with
   `lin{s}.model.1.weight` [1, C_s, 1, 1], C = 64, 128, 256, 512, 512, all >= 0. Looked up:
     the `heads` argument; $EDITGAN_LPIPS_WEIGHTS; <torch hub dir>/checkpoints/lpips/v0.1/vgg.pth;
     weights/v0.1/vgg.pth inside an installed `lpips` package (found without importing it).

Files are read with `torch.load(weights_only=True)`, which runs no code. Missing files raise one
MissingWeightsError naming each missing file and where to put it; unreadable files, missing keys,
wrong shapes or negative head weights raise CheckpointError.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from editgan.errors import CheckpointError, MissingWeightsError
from editgan.io.budget import one_line_errors
from editgan.io.torch_files import load_torch_file
from editgan.nn.lpips import LPIPS
from editgan.nn.vgg import STAGE_CHANNELS, conv_shapes

VGG16_FILE = "vgg16-397923af.pth"
VGG16_ENV = "EDITGAN_VGG16_WEIGHTS"
HEADS_ENV = "EDITGAN_LPIPS_WEIGHTS"
HEADS_KEYS = {f"lin{s}.model.1.weight": (1, c, 1, 1) for s, c in enumerate(STAGE_CHANNELS)}


def hub_checkpoints() -> Path:
    """torch's hub checkpoint cache (honours $TORCH_HOME and $XDG_CACHE_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _lpips_package_heads() -> Path | None:
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / "vgg.pth"


def vgg16_candidates(path: str | os.PathLike | None = None) -> list[Path]:
    """Where the VGG16 checkpoint is looked for, in order (an explicit path or $EDITGAN_VGG16_WEIGHTS
    is the only candidate when given)."""
    if path is not None:
        return [Path(path)]
    if os.environ.get(VGG16_ENV):
        return [Path(os.environ[VGG16_ENV])]
    return [hub_checkpoints() / VGG16_FILE]


def heads_candidates(path: str | os.PathLike | None = None) -> list[Path]:
    """Where the LPIPS v0.1 VGG heads are looked for, in order (as for `vgg16_candidates`)."""
    if path is not None:
        return [Path(path)]
    if os.environ.get(HEADS_ENV):
        return [Path(os.environ[HEADS_ENV])]
    found = [hub_checkpoints() / "lpips" / "v0.1" / "vgg.pth"]
    package = _lpips_package_heads()
    return found + ([package] if package is not None else [])


def _state_dict(path: Path, what: str) -> dict:
    sd = load_torch_file(path)
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: expected a state dict of tensors ({what}), got {type(sd).__name__}")
    return sd


def _take(sd: dict, key: str, shape: tuple[int, ...], path: Path, what: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{path}: missing {key!r}; is this the {what}?")
    t = sd[key]
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or tuple(t.shape) != shape:
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise CheckpointError(f"{path}: {key!r} is {got}, expected a float tensor of shape {shape} ({what})")
    return t


@one_line_errors
def read_vgg16(path: Path) -> dict[str, torch.Tensor]:
    """torchvision VGG16 checkpoint -> the trunk's `features.*` tensors (classifier ignored)."""
    what = "torchvision VGG16 state dict"
    sd = _state_dict(path, what)
    return {k: _take(sd, k, shape, path, what).float() for k, shape in conv_shapes().items()}


@one_line_errors
def read_heads(path: Path) -> dict[str, torch.Tensor]:
    """lpips `weights/v0.1/vgg.pth` -> {"lin{s}": [1, C_s, 1, 1]}, checked non-negative."""
    what = "lpips v0.1 VGG linear heads (lpips/weights/v0.1/vgg.pth)"
    sd = _state_dict(path, what)
    heads = {}
    for key, shape in HEADS_KEYS.items():
        t = _take(sd, key, shape, path, what)
        if (t < 0).any():
            raise CheckpointError(f"{path}: {key!r} has negative weights; LPIPS heads are non-negative ({what})")
        heads[key.split(".")[0]] = t.float()
    return heads


def load_lpips(vgg16: str | os.PathLike | None = None, heads: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> LPIPS:
    """An eval-mode, frozen LPIPS-VGG v0.1 from the two files (lookup in the module docstring)."""
    vgg_options, head_options = vgg16_candidates(vgg16), heads_candidates(heads)
    vgg_path = next((p for p in vgg_options if p.is_file()), None)
    head_path = next((p for p in head_options if p.is_file()), None)
    missing = []
    if vgg_path is None:
        missing.append(f"VGG16 weights {VGG16_FILE} (torchvision's ImageNet VGG16 state dict), looked for at "
                       f"{', '.join(map(str, vgg_options))}; put it at {vgg_options[0]} or set ${VGG16_ENV}")
    if head_path is None:
        missing.append(f"LPIPS linear heads vgg.pth (lpips/weights/v0.1/vgg.pth from the lpips package), "
                       f"looked for at {', '.join(map(str, head_options))}; put it at {head_options[0]} "
                       f"or set ${HEADS_ENV}")
    if missing:
        raise MissingWeightsError("LPIPS needs pretrained weights: " + "; and ".join(missing))
    model = LPIPS()
    state = {f"net.{k}": v for k, v in read_vgg16(vgg_path).items()}
    state.update(read_heads(head_path))
    state.update(shift=model.shift, scale=model.scale)
    model.load_state_dict(state)
    return model.eval().to(device)
