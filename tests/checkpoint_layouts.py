"""Writers of StyleGAN2 checkpoints in the exact published layouts, with random weights.

* rosinality: follows rosinality/stylegan2-pytorch `model.py` (Generator, ModulatedConv2d,
  StyledConv, ToRGB, NoiseInjection, FusedLeakyReLU) as of its master branch (2020-12 onwards,
  the layout every released `.pt` uses), keys in `state_dict()` order; saved as `convert_weight.py`
  does: torch.save({"g_ema": sd, "latent_avg": t}); or as `train.py` does with g/d/optimisers/args.
* NVIDIA: follows stylegan2-ada-pytorch `training/networks.py` (2021 release) and
  `torch_utils/persistence.py` (_version 6): every network is a persistent class whose pickle is
  REDUCE(torch_utils.persistence._reconstruct_persistent_obj, (meta,)) with meta = dict(type='class',
  version=6, module_src=<source text>, class_name=..., state=<module __dict__>). The pkl is
  {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"} as its training_loop.py writes it.

The fake `torch_utils.persistence` and `dnnlib.util` modules exist in sys.modules only while
`write_nvidia_pkl` pickles; the stand-in modules below only create parameters/buffers (no forward).
"""

from __future__ import annotations

import collections
import contextlib
import math
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

NV_VERSION = 6
FAKE_NETWORKS_SRC = "# stand-in for stylegan2-ada-pytorch training/networks.py (never executed)\n"


def _fir() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f2 = torch.outer(f, f)
    return f2 / f2.sum()


# ---- rosinality ---------------------------------------------------------------------------------

def rosinality_g_ema(size: int, style_dim: int, n_mlp: int, channels: dict[int, int], seed: int = 0,
                     lr_mlp: float = 0.01, zeros: bool = False) -> "collections.OrderedDict[str, torch.Tensor]":
    """A g_ema state dict as rosinality's Generator(size, style_dim, n_mlp) with `channels` would hold.

    Random values (biases, noise strengths non-zero so every tensor matters); zeros=True gives
    zero tensors of the right shapes (fast, for shape-only tests at real widths).
    """
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, offset=0.0):
        if zeros:
            return torch.zeros(*shape)
        return torch.randn(*shape, generator=g) * scale + offset

    sd: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = rnd(style_dim, style_dim) / lr_mlp
        sd[f"style.{i}.bias"] = rnd(style_dim, scale=0.1 / lr_mlp)
    sd["input.input"] = rnd(1, channels[4], 4, 4)

    def styled_conv(p, cin, cout, up):
        sd[p + "conv.weight"] = rnd(1, cout, cin, 3, 3)
        if up:
            sd[p + "conv.blur.kernel"] = _fir() * 4
        sd[p + "conv.modulation.weight"] = rnd(cin, style_dim)
        sd[p + "conv.modulation.bias"] = rnd(cin, scale=0.2, offset=1.0)
        sd[p + "noise.weight"] = rnd(1, scale=0.3)
        sd[p + "activate.bias"] = rnd(cout, scale=0.2)

    def to_rgb(p, cin, up):
        sd[p + "bias"] = rnd(1, 3, 1, 1, scale=0.2)
        if up:
            sd[p + "upsample.kernel"] = _fir() * 4
        sd[p + "conv.weight"] = rnd(1, 3, cin, 1, 1)
        sd[p + "conv.modulation.weight"] = rnd(cin, style_dim)
        sd[p + "conv.modulation.bias"] = rnd(cin, scale=0.2, offset=1.0)

    styled_conv("conv1.", channels[4], channels[4], False)
    to_rgb("to_rgb1.", channels[4], False)
    log_size = int(math.log2(size))
    prev = channels[4]
    for i in range(3, log_size + 1):
        ch = channels[2 ** i]
        styled_conv(f"convs.{2 * (i - 3)}.", prev, ch, True)
        styled_conv(f"convs.{2 * (i - 3) + 1}.", ch, ch, False)
        prev = ch
    for i in range(3, log_size + 1):
        to_rgb(f"to_rgbs.{i - 3}.", channels[2 ** i], True)
    for layer_idx in range((log_size - 2) * 2 + 1):
        res = (layer_idx + 5) // 2
        sd[f"noises.noise_{layer_idx}"] = rnd(1, 1, 2 ** res, 2 ** res)
    # state_dict() order: style, input, conv1, to_rgb1, convs, (upsamples), to_rgbs, noises
    order = [k for k in sd if k.startswith(("style.", "input.", "conv1.", "to_rgb1."))]
    order += [k for k in sd if k.startswith("convs.")] + [k for k in sd if k.startswith("to_rgbs.")]
    order += [k for k in sd if k.startswith("noises.")]
    return collections.OrderedDict((k, sd[k]) for k in order)


def rosinality_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality model.py's fixed widths."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
            1024: 16 * cm}


def write_rosinality(path: Path, g_ema, latent_avg: torch.Tensor | None, *, train_style: bool = False) -> Path:
    """convert_weight.py style {"g_ema", "latent_avg"}, or train.py style with g/d/optimisers/args."""
    if train_style:
        import argparse
        ckpt = {"g": g_ema, "d": {"convs.0.0.weight": torch.randn(8, 3, 1, 1)}, "g_ema": g_ema,
                "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0, 1]}]},
                "d_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                "args": argparse.Namespace(size=32, r1=10.0, path="lmdb"), "ada_aug_p": 0.0}
    else:
        ckpt = {"g_ema": g_ema}
        if latent_avg is not None:
            ckpt["latent_avg"] = latent_avg
    torch.save(ckpt, path)
    return path


# ---- NVIDIA stylegan2-ada-pytorch ---------------------------------------------------------------

class _Persistent(nn.Module):
    """Base of the stand-ins: pickles the way persistence.persistent_class's Decorator does."""

    _orig_module_src = FAKE_NETWORKS_SRC

    def _record_init(self, args=(), **kwargs):
        self._init_args = tuple(args)
        self._init_kwargs = dict(kwargs)

    def __reduce__(self):
        meta = dict(type="class", version=NV_VERSION, module_src=self._orig_module_src,
                    class_name=type(self).__name__, state=dict(self.__dict__))
        return (_persistence_module()._reconstruct_persistent_obj, (meta,), None)


class FullyConnectedLayer(_Persistent):
    def __init__(self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1, bias_init=0,
                 *, gen=None):
        super().__init__()
        self._record_init(in_features=in_features, out_features=out_features, bias=bias, activation=activation,
                          lr_multiplier=lr_multiplier, bias_init=bias_init)
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features], generator=gen) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))
                                 + 0.1 * torch.randn([out_features], generator=gen)) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)  # numpy float64, as published
        self.bias_gain = lr_multiplier


class MappingNetwork(_Persistent):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, lr_multiplier=0.01, w_avg_beta=0.995, *, gen):
        super().__init__()
        self._record_init(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                          lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, w_dim, gen=gen)
            features[0] += w_dim
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                                          lr_multiplier=lr_multiplier, gen=gen))
        self.register_buffer("w_avg", torch.randn([w_dim], generator=gen))


class SynthesisLayer(_Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, conv_clamp=None, *, gen):
        super().__init__()
        self._record_init((in_channels, out_channels), w_dim=w_dim, resolution=resolution, up=up,
                          resample_filter=[1, 3, 3, 1], conv_clamp=conv_clamp, channels_last=False)
        self.resolution, self.up, self.use_noise, self.activation = resolution, up, True, "lrelu"
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", _fir())
        self.padding = kernel_size // 2
        self.act_gain = np.sqrt(2)  # bias_act.activation_funcs['lrelu'].def_gain: numpy float64
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, gen=gen)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size], generator=gen))
        self.register_buffer("noise_const", torch.randn([resolution, resolution], generator=gen))
        self.noise_strength = nn.Parameter(0.3 * torch.randn([], generator=gen))
        self.bias = nn.Parameter(0.2 * torch.randn([out_channels], generator=gen))


class ToRGBLayer(_Persistent):
    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, *, gen):
        super().__init__()
        self._record_init((in_channels, out_channels, w_dim), conv_clamp=conv_clamp, channels_last=False)
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, gen=gen)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size], generator=gen))
        self.bias = nn.Parameter(0.2 * torch.randn([out_channels], generator=gen))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))


class SynthesisBlock(_Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, conv_clamp=None,
                 use_fp16=False, *, gen):
        super().__init__()
        self._record_init((in_channels, out_channels), w_dim=w_dim, resolution=resolution,
                          img_channels=img_channels, is_last=is_last, architecture="skip",
                          conv_clamp=conv_clamp, use_fp16=use_fp16)
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, "skip"
        self.use_fp16, self.channels_last = use_fp16, False
        self.register_buffer("resample_filter", _fir())
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution], generator=gen))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp,
                                        gen=gen)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, gen=gen)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp, gen=gen)
        self.num_torgb += 1


class SynthesisNetwork(_Persistent):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=0,
                 conv_clamp=None, *, gen):
        super().__init__()
        self._record_init(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                          channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res,
                          conv_clamp=conv_clamp)
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, channels[res], w_dim, res, img_channels, res == img_resolution,
                                   conv_clamp=conv_clamp, use_fp16=res >= fp16_resolution, gen=gen)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)


class Generator(_Persistent):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None,
                 synthesis_kwargs=None, *, seed=0, stylegan3_kwargs_style=False):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        mapping_kwargs = _easydict(mapping_kwargs or {})
        synthesis_kwargs = _easydict(synthesis_kwargs or {})
        if stylegan3_kwargs_style:  # stylegan3's networks_stylegan2.Generator takes **synthesis_kwargs
            self._record_init(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                              img_channels=img_channels, mapping_kwargs=mapping_kwargs, **synthesis_kwargs)
        else:
            self._record_init(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                              img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                              synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, gen=gen, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, gen=gen, **mapping_kwargs)


class Conv2dLayer(_Persistent):
    def __init__(self, in_channels, out_channels, kernel_size, bias=True, down=1, conv_clamp=None, *, gen):
        super().__init__()
        self._record_init((in_channels, out_channels, kernel_size), bias=bias, down=down, conv_clamp=conv_clamp)
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", _fir())
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size], generator=gen))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None


class MinibatchStdLayer(_Persistent):
    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self._record_init((group_size,), num_channels=num_channels)
        self.group_size, self.num_channels = group_size, num_channels


class DiscriminatorBlock(_Persistent):
    def __init__(self, in_channels, tmp_channels, out_channels, resolution, img_channels, conv_clamp=None, *, gen):
        super().__init__()
        self._record_init((in_channels, tmp_channels, out_channels), resolution=resolution,
                          img_channels=img_channels, architecture="resnet", conv_clamp=conv_clamp)
        self.in_channels, self.resolution, self.architecture = in_channels, resolution, "resnet"
        self.register_buffer("resample_filter", _fir())
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, conv_clamp=conv_clamp, gen=gen)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, conv_clamp=conv_clamp, gen=gen)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, down=2, conv_clamp=conv_clamp, gen=gen)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, gen=gen)  # never clamped


class DiscriminatorEpilogue(_Persistent):
    def __init__(self, in_channels, resolution, img_channels, conv_clamp=None, *, gen):
        super().__init__()
        self._record_init((in_channels, 0, resolution, img_channels), conv_clamp=conv_clamp)
        self.mbstd = MinibatchStdLayer(4, 1)
        self.conv = Conv2dLayer(in_channels + 1, in_channels, 3, conv_clamp=conv_clamp, gen=gen)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu", gen=gen)
        self.out = FullyConnectedLayer(in_channels, 1, gen=gen)


class Discriminator(_Persistent):
    def __init__(self, img_resolution, img_channels, channel_base, channel_max, conv_clamp=None, *, seed=1):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self._record_init(c_dim=0, img_resolution=img_resolution, img_channels=img_channels,
                          channel_base=channel_base, channel_max=channel_max, conv_clamp=conv_clamp)
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        ch = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            in_channels = ch[res] if res < img_resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_channels, ch[res], ch[res // 2], res, img_channels,
                                                        conv_clamp, gen=gen))
        self.b4 = DiscriminatorEpilogue(ch[4], 4, img_channels, conv_clamp, gen=gen)


# ---- the fake modules that exist only while pickling ---------------------------------------------

_FAKE: dict[str, types.ModuleType] = {}


def _persistence_module() -> types.ModuleType:
    if "torch_utils.persistence" not in _FAKE:
        mod = types.ModuleType("torch_utils.persistence")

        def _reconstruct_persistent_obj(meta):  # pragma: no cover - must never run in our tests
            raise AssertionError("the stand-in reconstruct function was called")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
        _FAKE["torch_utils.persistence"] = mod
        _FAKE["torch_utils"] = types.ModuleType("torch_utils")
        util = types.ModuleType("dnnlib.util")

        class EasyDict(dict):
            def __getattr__(self, name):
                try:
                    return self[name]
                except KeyError:
                    raise AttributeError(name) from None

        EasyDict.__module__ = "dnnlib.util"
        EasyDict.__qualname__ = "EasyDict"
        util.EasyDict = EasyDict
        _FAKE["dnnlib.util"] = util
        _FAKE["dnnlib"] = types.ModuleType("dnnlib")
    return _FAKE["torch_utils.persistence"]


def _easydict(d: dict) -> dict:
    _persistence_module()
    return _FAKE["dnnlib.util"].EasyDict(d)


@contextlib.contextmanager
def fake_nvidia_modules():
    """Register torch_utils.persistence / dnnlib.util stand-ins in sys.modules for the duration."""
    _persistence_module()
    saved = {name: sys.modules.get(name) for name in _FAKE}
    sys.modules.update(_FAKE)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def nvidia_generator(resolution=32, z_dim=32, w_dim=32, num_layers=2, channel_base=512, channel_max=32,
                     conv_clamp=None, c_dim=0, seed=0, stylegan3_kwargs_style=False) -> Generator:
    gen = Generator(z_dim, c_dim, w_dim, resolution, 3, mapping_kwargs=dict(num_layers=num_layers),
                    synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max, num_fp16_res=2,
                                          conv_clamp=conv_clamp),
                    seed=seed, stylegan3_kwargs_style=stylegan3_kwargs_style)
    return gen.eval().requires_grad_(False)


def write_nvidia_pkl(path: Path, G_ema: nn.Module, *, extra: dict | None = None, protocol: int = 3,
                     with_discriminator: bool = True) -> Path:
    """Write {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"} like training_loop.py."""
    res = G_ema.img_resolution
    data = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="~/data.zip",
                                         use_labels=False, max_size=1000, xflip=False, resolution=res),
                G=G_ema,
                D=Discriminator(res, 3, 512, 32) if with_discriminator else None,
                G_ema=G_ema, augment_pipe=None)
    data.update(extra or {})
    with fake_nvidia_modules():
        blob = pickle.dumps(data, protocol=protocol)
    path.write_bytes(blob)
    return path
