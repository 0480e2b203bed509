"""Reader for rosinality `stylegan2-pytorch` checkpoints (`.pt`), e.g. EditGAN's converted car model.

Layout (rosinality/stylegan2-pytorch `model.py`, `Generator`; files from its `convert_weight.py`
hold {"g_ema", "latent_avg"[, "g", "d"]}, files from its `train.py` hold {"g", "d", "g_ema",
"g_optim", "d_optim", "args", "ada_aug_p"}). Keys of `g_ema` and their shapes, with C_r the width
at resolution r, D = style_dim and L = log2(size):

    style.{1..n_mlp}.weight [D, D], .bias [D]          (style.0 is PixelNorm, no weights)
    input.input [1, C_4, 4, 4]
    conv1.conv.weight [1, C_4, C_4, 3, 3]; conv1.conv.modulation.weight [C_4, D], .bias [C_4]
    conv1.noise.weight [1]; conv1.activate.bias [C_4]
    to_rgb1.conv.weight [1, 3, C_4, 1, 1]; to_rgb1.conv.modulation.*; to_rgb1.bias [1, 3, 1, 1]
    convs.{2k}   (upsampling, to r = 2^(k+3)): as conv1 plus conv.blur.kernel [4, 4]
    convs.{2k+1} (r):                          as conv1
    to_rgbs.{k}: as to_rgb1 plus upsample.kernel [4, 4]
    noises.noise_{i} [1, 1, r_i, r_i], i = 0..2L-4 (i=0: conv1; then convs.{i-1})

Read with `torch_files.load_torch_file` (zip CRC check, then `torch.load(weights_only=True)`); no
code from the file runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import ReadBudget, check_tensors, one_line_errors
from editgan.io.torch_files import load_torch_file
from editgan.nn import ops
from editgan.nn.config import GeneratorConfig

DEFAULT_MAPPING_LR_MUL = 0.01  # rosinality's `lr_mlp`; not stored in the file


class InertNamespace:
    """Stands in for `argparse.Namespace` (rosinality's train.py stores its `args`): attributes only."""

    def __init__(self, *args, **kwargs) -> None:
        self.__dict__.update(kwargs)

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)


def load_rosinality_file(path: str | Path, budget: ReadBudget | None = None) -> object:
    """The checkpoint's top-level object (argparse.Namespace `args` become InertNamespace)."""
    return load_torch_file(path, allow=((InertNamespace, "argparse.Namespace"),),
                           hint="If it is an NVIDIA .pkl use --format nvidia.", budget=budget)


def is_rosinality_state_dict(sd: object) -> bool:
    return isinstance(sd, dict) and "input.input" in sd and "style.1.weight" in sd


@one_line_errors
def read_rosinality(path: str | Path, *, key: str = "g_ema", mapping_lr_mul: float = DEFAULT_MAPPING_LR_MUL,
                    crop: tuple[int, int, int, int] | None = None):
    """Read a rosinality `.pt` file -> (GeneratorConfig, our state dict, extras).

    key: which generator ("g_ema" or "g"); a file that is itself a generator state dict is
    accepted too. extras: {"format", "key", "w_avg_present", "noise_present", "mapping_lr_mul",
    "other_keys"}. Without `latent_avg`, mapping.w_avg is zeros and extras["w_avg_present"] is
    False (estimate it with `Generator.estimate_w_avg`).
    """
    budget = ReadBudget(Path(path).stat().st_size, str(path)) if Path(path).is_file() else None
    ckpt = load_rosinality_file(path, budget)  # torch's allocations checked before it reads; ours below
    if is_rosinality_state_dict(ckpt):
        sd, latent_avg, others = ckpt, None, []
    elif isinstance(ckpt, dict) and key in ckpt:
        sd, latent_avg = ckpt[key], ckpt.get("latent_avg")
        others = sorted(str(k) for k in ckpt if k != key)
    else:
        keys = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} has no '{key}' generator (top level: {keys}); "
                              "not a rosinality stylegan2-pytorch checkpoint")
    if not is_rosinality_state_dict(sd):
        raise CheckpointError(f"'{key}' in {path} is not a rosinality Generator state dict "
                              "(no input.input / style.1.weight)")
    check_tensors(((str(k), v) for k, v in [*sd.items(), ("latent_avg", latent_avg)]
                   if isinstance(v, torch.Tensor)), budget)
    config, ours, noise_present = convert_state_dict(sd, mapping_lr_mul=mapping_lr_mul, crop=crop)
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != config.w_dim:
            raise CheckpointError(f"latent_avg in {path} has shape {tuple(getattr(latent_avg, 'shape', ()))}, "
                                  f"expected [{config.w_dim}]")
        ours["mapping.w_avg"] = latent_avg.detach().reshape(config.w_dim).float().clone()
    extras = {"format": "rosinality", "key": key, "w_avg_present": latent_avg is not None,
              "noise_present": noise_present, "mapping_lr_mul": mapping_lr_mul, "other_keys": others}
    return config, ours, extras


def convert_state_dict(sd: dict[str, torch.Tensor], *, mapping_lr_mul: float = DEFAULT_MAPPING_LR_MUL,
                       crop=None) -> tuple[GeneratorConfig, dict[str, torch.Tensor], bool]:
    """rosinality g_ema state dict -> (config, our state dict, whether noise buffers were present).

    Every input key must be consumed; leftovers mean an unknown variant and raise CheckpointError.
    """
    todo = dict(sd)
    missing: list[str] = []

    def take(name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """Pop and check `name`; a missing one is noted (all are reported together), zeros stand in."""
        if name not in todo:
            missing.append(name)
            return None if shape is None else torch.zeros(shape)
        t = todo.pop(name)
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"'{name}' is {type(t).__name__}, not a tensor")
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise CheckpointError(f"'{name}' has shape {tuple(t.shape)}, expected {tuple(shape)}")
        return t.detach().float().clone()

    if not all(isinstance(k, str) for k in sd):
        raise CheckpointError("rosinality generator state dict has non-string keys; not a state dict")
    num_rgbs = 1 + max((int(m.group(1)) for k in sd if (m := re.fullmatch(r"to_rgbs\.(\d+)\.conv\.weight", k))),
                       default=-1)
    if num_rgbs > 13:  # 2^15 pixels: beyond any StyleGAN2
        raise CheckpointError(f"rosinality generator names to_rgbs.{num_rgbs - 1}: not a StyleGAN2 layout")
    dims = {"style.1.weight": 2, "input.input": 4, "to_rgb1.conv.weight": 5,
            **{f"to_rgbs.{k}.conv.weight": 5 for k in range(num_rgbs)}}
    _report_missing([k for k in dims if k not in sd])  # the keys that fix the widths come first
    for name, n in dims.items():
        if not isinstance(sd[name], torch.Tensor) or sd[name].dim() != n:
            raise CheckpointError(f"'{name}' in the rosinality generator is not a {n}-d tensor")

    n_mlp = len([k for k in sd if re.fullmatch(r"style\.\d+\.weight", k)])
    w_dim, z_dim = sd["style.1.weight"].shape
    resolution = 2 ** (num_rgbs + 2)
    c4 = sd["input.input"].shape[1]
    channels = {4: int(c4)}
    for k in range(num_rgbs):
        channels[2 ** (k + 3)] = int(sd[f"to_rgbs.{k}.conv.weight"].shape[2])
    img_channels = int(sd["to_rgb1.conv.weight"].shape[1])

    ours: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        in_dim = z_dim if i == 0 else w_dim
        ours[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight", (w_dim, in_dim))
        ours[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias", (w_dim,))
    ours["mapping.w_avg"] = torch.zeros(w_dim)
    ours["synthesis.b4.const"] = take("input.input", (1, c4, 4, 4))[0]

    up_kernel = ops.make_filter() * 4  # rosinality stores the blur kernel already x factor^2

    def styled_conv(src: str, dst: str, cin: int, cout: int, res: int, up: bool) -> None:
        ours[f"{dst}.weight"] = take(f"{src}.conv.weight", (1, cout, cin, 3, 3))[0]
        ours[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight", (cin, w_dim))
        ours[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias", (cin,))
        ours[f"{dst}.noise_strength"] = take(f"{src}.noise.weight", (1,)).reshape([])
        ours[f"{dst}.bias"] = take(f"{src}.activate.bias", (cout,))
        ours[f"{dst}.noise_const"] = torch.zeros(res, res)
        if up:
            _check_kernel(take(f"{src}.conv.blur.kernel"), up_kernel, f"{src}.conv.blur.kernel")

    def to_rgb(src: str, dst: str, cin: int, up: bool) -> None:
        ours[f"{dst}.weight"] = take(f"{src}.conv.weight", (1, img_channels, cin, 1, 1))[0]
        ours[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight", (cin, w_dim))
        ours[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias", (cin,))
        ours[f"{dst}.bias"] = take(f"{src}.bias", (1, img_channels, 1, 1)).reshape(img_channels)
        if up:
            _check_kernel(take(f"{src}.upsample.kernel"), up_kernel, f"{src}.upsample.kernel")

    layer_names = ["synthesis.b4.conv1"]
    styled_conv("conv1", "synthesis.b4.conv1", c4, c4, 4, up=False)
    to_rgb("to_rgb1", "synthesis.b4.torgb", c4, up=False)
    prev = c4
    for k in range(num_rgbs):
        res = 2 ** (k + 3)
        ch = channels[res]
        styled_conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", prev, ch, res, up=True)
        styled_conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", ch, ch, res, up=False)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", ch, up=True)
        layer_names += [f"synthesis.b{res}.conv0", f"synthesis.b{res}.conv1"]
        prev = ch

    noise_present = any(k.startswith("noises.") for k in todo)
    if noise_present:
        for i, name in enumerate(layer_names):
            res = ours[f"{name}.noise_const"].shape[0]
            ours[f"{name}.noise_const"] = take(f"noises.noise_{i}", (1, 1, res, res))[0, 0]
    _report_missing(missing)
    if todo:
        left = sorted(todo)
        raise CheckpointError(f"rosinality generator has keys this reader does not know: {left[:6]}"
                              f"{' ...' if len(left) > 6 else ''} (a modified model.py?)")
    try:
        config = GeneratorConfig(resolution=resolution, z_dim=int(z_dim), w_dim=int(w_dim),
                                 num_mapping_layers=n_mlp, mapping_lr_mul=mapping_lr_mul, channels=channels,
                                 img_channels=img_channels, conv_clamp=None, crop=crop)
    except Exception as err:
        raise CheckpointError(f"rosinality generator gives an unsupported config: {err}") from None
    return config, ours, noise_present


def _report_missing(missing: list[str]) -> None:
    if missing:
        raise CheckpointError(f"rosinality generator is missing {len(missing)} key(s): {missing[:6]}"
                              f"{' ...' if len(missing) > 6 else ''} (a damaged or modified checkpoint?)")


def _check_kernel(found: torch.Tensor | None, expected: torch.Tensor, name: str) -> None:
    if found is None:  # missing: reported with the other missing keys
        return
    if found.shape != expected.shape or not torch.allclose(found, expected, atol=1e-6):
        raise CheckpointError(f"'{name}' is not the standard [1,3,3,1] blur kernel; "
                              "only blur_kernel=[1,3,3,1] generators are supported")
