"""StyleGAN2 generator (configs E/F, "skip" architecture) that also yields its feature maps.

z [N, z_dim] --mapping--> w [N, w_dim] --broadcast--> w+ [N, num_ws, w_dim] --synthesis--> image
[N, img_channels, R, R] in [-1, 1] (roughly), and on request the K+1 = num_ws - 1 feature maps
S^0..S^K: the outputs of every synthesis conv layer after noise, bias and activation. S^0 is
[N, C_4, 4, 4]; then two maps per block resolution r = 8..R, each [N, C_r, r, r]
(see `GeneratorConfig.feature_shapes`).

State-dict names mirror NVIDIA's stylegan2-ada layout (mapping.fc{i}, synthesis.b{res}.conv0/
conv1/torgb, b4.const) so foreign checkpoints map onto it one to one. Weights are stored raw and
scaled at run time (equalised learning rate).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn import ops
from editgan.nn.config import GeneratorConfig, block_resolutions
from editgan.nn.pretrained import Pretrained

NOISE_MODES = ("const", "random", "none")


class FullyConnected(nn.Module):
    """Equalised-learning-rate linear layer: y = act(x @ (W * lr_mul/sqrt(in))^T + b * lr_mul)."""

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear",
                 lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, activation={self.activation}, " \
               f"lr_mul={self.bias_gain:g}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> w [N, w_dim]: 2nd-moment normalisation then an MLP of lrelu FC layers.

    `w_avg` [w_dim] is the running mean of w (the truncation centre), tracked during training.
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        dims = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], activation="lrelu", lr_mul=lr_mul))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, w_dim={self.w_dim}, num_layers={self.num_layers}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InputError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        x = ops.normalize_2nd_moment(z)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        """Exponential moving average of w (training only)."""
        self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, beta))


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling), noise, bias, lrelu. [N,Cin,r/up,r/up] -> [N,Cout,r,r]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 up: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", ops.make_filter(), persistent=False)
        self._prepared: tuple[tuple, ops.PreparedWeight] | None = None

    def prepared_weight(self, dtype: torch.dtype) -> ops.PreparedWeight | None:
        """The weight's cast to `dtype` and its demodulation sums, computed once while the weight is
        frozen (inference, latent optimisation) and again after any change; None while it trains (or
        is replaced, as under `torch.func.functional_call`), when they must follow the weight; None
        under `torch.compile` too (the cache's key reads data pointers, a graph break; the compiled
        graph casts the weight itself)."""
        weight = self.weight
        if weight.requires_grad or torch.compiler.is_compiling():
            return None
        key = (weight.data_ptr(), weight._version, weight.device, dtype)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = key, ops.PreparedWeight.of(weight, dtype)
        return self._prepared[1]

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return f"in_channels={in_channels}, out_channels={out_channels}, resolution={self.resolution}, " \
               f"up={self.up}, activation=lrelu, conv_clamp={self.conv_clamp}"

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, noise_mode: str = "const",
                noise: torch.Tensor | None = None, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w)
        # Demodulation makes the conv weight's scale irrelevant, so no runtime gain here.
        # lrelu(v) * sqrt2 == lrelu(v * sqrt2): the activation gain is folded into the conv's
        # epilogue and the noise, so the whole tail costs three passes over the output.
        x = ops.modulated_conv2d(x, self.weight, styles, up=self.up, padding=1, resample_filter=self.resample_filter,
                                 fused=fused, bias=self.bias, gain=ops.SQRT2, prepared=self.prepared_weight(x.dtype))
        if noise is None and noise_mode == "const":
            noise = self.noise_const
        elif noise is None and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        if noise is not None:
            x = x.add_((noise * (self.noise_strength * ops.SQRT2)).to(x.dtype))
        x = torch.nn.functional.leaky_relu_(x, 0.2)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation: [N, Cin, r, r] -> [N, img_channels, r, r]."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, *, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def extra_repr(self) -> str:
        img_channels, in_channels = self.weight.shape[:2]
        return f"in_channels={in_channels}, img_channels={img_channels}, conv_clamp={self.conv_clamp}"

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused, bias=self.bias)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution level: (const | 2x-up conv0) + conv1, and ToRGB added to the upsampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        self.is_first = resolution == 4
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.register_buffer("resample_filter", ops.make_filter(), persistent=False)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}" + (", const 4x4 input" if self.is_first else ", up=2")

    @property
    def num_conv(self) -> int:
        return 1 if self.is_first else 2

    def layers(self) -> list[SynthesisLayer]:
        return [self.conv1] if self.is_first else [self.conv0, self.conv1]


class SynthesisNetwork(nn.Module):
    """w+ [N, num_ws, w_dim] -> image [N, img_channels, R, R] (+ feature maps S^0..S^K)."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.resolutions = block_resolutions(config.resolution)
        # Activation layout. channels_last lets oneDNN/cuDNN pick their fastest conv and
        # depthwise-filter kernels; every later op preserves it (bench/generator.py compares).
        self.memory_format = torch.channels_last
        prev = 0
        for res in self.resolutions:
            ch = config.channels[res]
            block = SynthesisBlock(prev, ch, config.w_dim, res, config.img_channels, config.conv_clamp)
            setattr(self, f"b{res}", block)
            prev = ch

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, num_ws={cfg.num_ws}, w_dim={cfg.w_dim}, " \
               f"img_channels={cfg.img_channels}, crop={cfg.crop}"

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.resolutions]

    def forward(self, wplus: torch.Tensor, *, noise_mode: str = "const",
                noise: Sequence[torch.Tensor | None] | None = None, return_features: bool = False,
                fused: bool | None = None, dtype: torch.dtype | None = None):
        """dtype: the precision of the conv layers' activations (and features), e.g. torch.bfloat16 for
        mixed-precision training; weights stay in their own precision and are cast per call. The
        image is accumulated in float32 either way. None: the parameters' dtype."""
        cfg = self.config
        n = wplus.shape[0]
        if wplus.ndim != 3 or wplus.shape[1:] != (cfg.num_ws, cfg.w_dim):
            raise InputError(f"w+ must be [N, {cfg.num_ws}, {cfg.w_dim}], got {list(wplus.shape)}")
        if noise_mode not in NOISE_MODES:
            raise InputError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise is not None and len(noise) != cfg.num_layers:
            raise InputError(f"noise must list {cfg.num_layers} tensors (one per conv layer), got {len(noise)}")
        if fused is None:
            fused = _prefer_fused(wplus, n)
        features: list[torch.Tensor] = []
        x = img = None
        w_idx = layer_idx = 0
        for block in self.blocks():
            if block.is_first:
                x = block.const.to(dtype or block.const.dtype).unsqueeze(0).expand(n, -1, -1, -1)
                x = x.contiguous(memory_format=self.memory_format)
            for layer in block.layers():
                layer_noise = None if noise is None else noise[layer_idx]
                x = layer(x, wplus[:, w_idx], noise_mode=noise_mode, noise=layer_noise, fused=fused)
                if return_features:
                    features.append(x)
                w_idx += 1
                layer_idx += 1
            y = block.torgb(x, wplus[:, w_idx], fused=fused).to(wplus.dtype)
            img = y if img is None else ops.upsample2d(img, block.resample_filter) + y
        if cfg.crop is not None:
            top, left, h, w = cfg.crop
            img = img[:, :, top:top + h, left:left + w]
        return (img, features) if return_features else img


def _prefer_fused(wplus: torch.Tensor, batch: int) -> bool:
    """Fused (per-sample weights) suits small CUDA inference batches. On CPU the non-fused form
    measured faster even at batch 1 (bench/generator.py), and whenever gradients flow it avoids
    per-sample weight gradients."""
    return wplus.device.type == "cuda" and batch <= 4 and not (torch.is_grad_enabled() and wplus.requires_grad)


class Generator(Pretrained, nn.Module):
    """StyleGAN2 generator: mapping + synthesis, with truncation and w+ helpers."""

    config_class, file_format, file_name = GeneratorConfig, "editgan-generator", "generator"

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        if not isinstance(config, GeneratorConfig):
            raise ConfigError("Generator needs a GeneratorConfig")
        self.config = config
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.num_mapping_layers, config.mapping_lr_mul)
        self.synthesis = SynthesisNetwork(config)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, z_dim={cfg.z_dim}, w_dim={cfg.w_dim}, num_ws={cfg.num_ws}"

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def sample_z(self, n: int, seed: int | None = None, generator: torch.Generator | None = None,
                 device=None) -> torch.Tensor:
        """Standard-normal z [n, z_dim]; `seed` gives the same z on every machine."""
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.config.z_dim, generator=generator)
        return z.to(device if device is not None else self.w_avg.device)

    def truncate(self, w: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """Pull w [N, w_dim] or w+ [N, num_ws, w_dim] towards w_avg: w_avg + psi (w - w_avg).

        With w+, only the first `cutoff` codes are truncated (None: all).
        """
        if psi == 1:
            return w
        avg = self.w_avg.to(w.dtype)
        if w.ndim == 2:
            return avg.lerp(w, psi)
        cutoff = w.shape[1] if cutoff is None else cutoff
        return torch.cat([avg.lerp(w[:, :cutoff], psi), w[:, cutoff:]], dim=1)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, w_dim] -> w+ [N, num_ws, w_dim] (a view)."""
        if w.ndim != 2 or w.shape[1] != self.config.w_dim:
            raise InputError(f"w must be [N, {self.config.w_dim}], got {list(w.shape)}")
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def z_to_wplus(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] -> truncated w+ [N, num_ws, w_dim]."""
        return self.truncate(self.broadcast(self.mapping(z)), psi, cutoff)

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """Accept w [N, w_dim] or w+ [N, num_ws, w_dim]; return w+."""
        return self.broadcast(w) if w.ndim == 2 else w

    def synthesize(self, w: torch.Tensor, **kwargs):
        """Image from w or w+; kwargs as SynthesisNetwork.forward (noise_mode, noise, return_features, fused)."""
        return self.synthesis(self.to_wplus(w), **kwargs)

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None, **kwargs):
        return self.synthesis(self.z_to_wplus(z, psi, cutoff), **kwargs)

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10000, seed: int = 0) -> torch.Tensor:
        """Mean of mapping(z) over n samples (for checkpoints that ship no w_avg); sets and returns it."""
        z = self.sample_z(n, seed=seed)
        self.mapping.w_avg.copy_(self.mapping(z).mean(dim=0))
        return self.mapping.w_avg


def check_wplus(G: Generator, wplus: torch.Tensor, what: str = "w+") -> torch.Tensor:
    """wplus must be a float tensor [N, num_ws, w_dim] for G (InputError naming it `what`); returned
    detached, float32, on G's device."""
    cfg = G.config
    if not isinstance(wplus, torch.Tensor) or wplus.ndim != 3 or tuple(wplus.shape[1:]) != (cfg.num_ws, cfg.w_dim) \
            or not wplus.dtype.is_floating_point:
        got = list(wplus.shape) if isinstance(wplus, torch.Tensor) else type(wplus).__name__
        raise InputError(f"{what} must be a float tensor w+ [N, {cfg.num_ws}, {cfg.w_dim}], got {got}")
    return wplus.detach().to(G.w_avg.device, torch.float32)
