"""Reader of the official EditGAN release's encoder checkpoint -> our `FPNEncoder`.

Published layout (nv-tlabs/editGAN_release `models/encoder/encoder.py`, saved by its
`train_encoder.py`): `torch.save({"model_state_dict": state})`, keys possibly prefixed `module.`
(a DataParallel wrapper). With B the stem width, F the pyramid width, D = w_dim:

    FPN_module.conv1.weight [B, 3, 7, 7]; FPN_module.bn1.{weight, bias, running_mean, running_var,
        num_batches_tracked}
    FPN_module.layer{k}.{b}.conv1/bn1/conv2/bn2/conv3/bn3 (bottleneck), first blocks also
        shortcut.0 (1x1 conv) / shortcut.1 (BatchNorm)      -- torchvision's downsample.0 / .1
    FPN_module.toplayer [F, 32B, 1, 1] + bias; latlayer1/2/3 (from c4, c3, c2) [F, C, 1, 1] + bias;
        smooth1/2/3 (on p4, p3, p2) [F, F, 3, 3] + bias
    course_styles.{i} (reads p4), medium_styles.{i} (p3), fine_styles.{i} (p2):
        convs.{2j}.weight [D, F or D, 3, 3], convs.{2j}.bias [D] (odd indices: leaky ReLU);
        linear.weight [D, D], linear.bias [D]

The car release: B = 64, depths 3, 4, 6, 3 (ResNet-50), F = D = 512, 3 + 4 + 9 heads with 5 / 6 / 7
convs (input 512 px): 568 keys, 277.5M values. Everything else (widths, depths, head counts, w_dim,
and the input side R = 16 * 2^(convs of a coarse head)) is read off the shapes.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from editgan.errors import CheckpointError, ConfigError
from editgan.files import read_json
from editgan.io.budget import one_line_errors
from editgan.io.rosinality import load_torch_file
from editgan.nn.encoder import code_level
from editgan.nn.fpn_encoder import FPNEncoder, FPNEncoderConfig
from editgan.nn.pretrained import check_shapes

HEAD_GROUPS = {"coarse": "course_styles", "medium": "medium_styles", "fine": "fine_styles"}  # sic "course"
PYRAMID_NAMES = {"lateral": "latlayer", "smooth": "smooth"}  # index j -> name{j + 1}
STEM = "FPN_module.conv1.weight"


def official_key(key: str, groups: tuple[int, int]) -> str:
    """Our FPNEncoder state-dict key -> the release's name for the same tensor."""
    if key.startswith("backbone."):
        return "FPN_module." + key.removeprefix("backbone.").replace(".downsample.", ".shortcut.")
    part, rest = key.split(".", 1)
    if part == "pyramid":
        name, rest = rest.split(".", 1)
        if name == "top":
            return f"FPN_module.toplayer.{rest}"
        index, rest = rest.split(".", 1)
        return f"FPN_module.{PYRAMID_NAMES[name]}{int(index) + 1}.{rest}"
    index, rest = rest.split(".", 1)
    level = code_level(int(index), groups)
    offset = {"coarse": 0, "medium": groups[0], "fine": groups[0] + groups[1]}[level]
    return f"{HEAD_GROUPS[level]}.{int(index) - offset}.{rest}"


@one_line_errors
def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's state dict with any `module.` prefixes removed; CheckpointError if it is not one."""
    data = load_torch_file(path)
    state = data.get("model_state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{path}: expected {{'model_state_dict': state}} (EditGAN release encoder layout), "
                              f"got {type(data).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if not isinstance(state.get(STEM), torch.Tensor) or state[STEM].ndim != 4:
        raise CheckpointError(f"{path} is not an EditGAN release encoder (no {STEM}; keys "
                              f"{sorted(state)[:4]} ...)")
    return state


def _count(state: dict, pattern: str) -> int:
    """Number of distinct integers that fill the single group of `pattern` over the keys."""
    return len({m.group(1) for k in state if (m := re.fullmatch(pattern, k))})


def config_from_state(state: dict[str, torch.Tensor], path: str | Path) -> FPNEncoderConfig:
    """Widths, depths, head counts, w_dim and input side read off the release's shapes."""
    depths = tuple(_count(state, rf"FPN_module\.layer{k}\.(\d+)\.conv1\.weight") for k in range(1, 5))
    groups = tuple(_count(state, rf"{HEAD_GROUPS[lv]}\.(\d+)\.linear\.weight") for lv in ("coarse", "medium"))
    n_fine = _count(state, rf"{HEAD_GROUPS['fine']}\.(\d+)\.linear\.weight")
    n_convs = _count(state, rf"{HEAD_GROUPS['coarse']}\.0\.convs\.(\d+)\.weight")
    top, linear = state.get("FPN_module.toplayer.weight"), state.get(f"{HEAD_GROUPS['coarse']}.0.linear.weight")
    if top is None or linear is None or min(*depths, *groups, n_fine, n_convs) == 0:
        raise CheckpointError(f"{path}: incomplete EditGAN release encoder (blocks per stage {depths}, "
                              f"heads {(*groups, n_fine)}, coarse head convs {n_convs}, toplayer "
                              f"{'present' if top is not None else 'missing'})")
    try:
        return FPNEncoderConfig(resolution=16 * 2 ** n_convs, num_ws=sum(groups) + n_fine, w_dim=linear.shape[0],
                                base_width=state[STEM].shape[0], depths=depths, fpn_channels=top.shape[0],
                                groups=groups)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None


@one_line_errors
def load_editgan_encoder(path: str | Path, device: str | torch.device = "cpu") -> FPNEncoder:
    """The release's encoder file -> FPNEncoder (eval mode, frozen); every key and shape checked."""
    state = read_state(path)
    config = config_from_state(state, path)
    with torch.device("meta"):  # shapes only: nothing is allocated before the file is known to fit
        net = FPNEncoder(config)
    expected = net.state_dict()
    names = {official_key(k, config.groups): k for k in expected}
    check_shapes({theirs: tuple(expected[ours].shape) for theirs, ours in names.items()}, state,
                 f"the EditGAN release encoder read off {path}")
    net = net.to_empty(device=device)  # every parameter and buffer is then overwritten from the file
    net.load_state_dict({ours: state[theirs] for theirs, ours in names.items()})
    return net.eval().requires_grad_(False)


def install_editgan_encoder(path: str | Path, directory: str | Path) -> Path:
    """Write the release's encoder as `<directory>/encoder.json/.safetensors` (a bundle or any
    directory); a bundle's manifest must agree on resolution, num_ws and w_dim. Returns the weights path."""
    net = load_editgan_encoder(path)
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if manifest.is_file():
        shape = read_json(manifest)
        cfg = net.config
        theirs = {k: shape.get(k) for k in ("resolution", "num_ws", "w_dim")}
        if theirs != {"resolution": cfg.resolution, "num_ws": cfg.num_ws, "w_dim": cfg.w_dim}:
            raise CheckpointError(f"{path} encodes {cfg.resolution} px images to {cfg.num_ws} x {cfg.w_dim} codes; "
                                  f"the bundle {directory} has {theirs}")
    return net.save_pretrained(directory, provenance={"source": "EditGAN release encoder", "file": str(path)})
