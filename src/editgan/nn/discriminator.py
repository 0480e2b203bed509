"""StyleGAN2 discriminator ("resnet" architecture, configs E/F), NVIDIA stylegan2-ada naming.

image [N, img_channels, R, R] -> logits [N, 1]. Blocks b{R}..b8 halve the resolution; b4 is the
epilogue (minibatch stddev, conv, fc, out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn import ops
from editgan.nn.config import block_resolutions, channels_for
from editgan.nn.config_base import JsonConfig
from editgan.nn.stylegan2 import FullyConnected


@dataclass
class DiscriminatorConfig(JsonConfig):
    """resolution: input size; channels: block resolution (4..R) -> width."""

    resolution: int = 256
    channels: dict[int, int] = field(default_factory=dict)
    img_channels: int = 3
    conv_clamp: float | None = None
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    kind: ClassVar[str] = "discriminator"

    def __post_init__(self) -> None:
        self.channels = {int(k): int(v) for k, v in (self.channels or channels_for(self.resolution)).items()}
        expected = set(block_resolutions(self.resolution))
        if set(self.channels) != expected:
            raise ConfigError(f"discriminator channels must cover {sorted(expected)}, got {sorted(self.channels)}")


class Conv2dLayer(nn.Module):
    """Equalised-learning-rate conv with optional 2x filtered downsampling, bias and activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ConfigError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.register_buffer("resample_filter", ops.make_filter(), persistent=False)

    def extra_repr(self) -> str:
        out_channels, in_channels, kernel_size = self.weight.shape[:3]
        return f"in_channels={in_channels}, out_channels={out_channels}, kernel_size={kernel_size}, " \
               f"bias={self.bias is not None}, activation={self.activation}, down={self.down}, " \
               f"conv_clamp={self.conv_clamp}"

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """bias_act(conv(x), act, gain, clamp) in x's dtype. The output gain (sqrt 2 for lrelu, times
        `gain`) is folded into weight and bias, since lrelu(v) * g == lrelu(v * g) for g > 0: one
        conv with a fused bias and an in-place activation, instead of three passes over the output."""
        out_gain = gain * (ops.SQRT2 if self.activation == "lrelu" else 1.0)
        weight = (self.weight * (self.weight_gain * out_gain)).to(x.dtype)
        bias = (self.bias * out_gain).to(x.dtype) if self.bias is not None else None
        x = ops.conv2d_resample(x, weight, self.resample_filter.to(x.dtype), down=self.down,
                                padding=self.padding, bias=bias)
        if self.activation == "lrelu":
            x = torch.nn.functional.leaky_relu_(x, 0.2)
        return x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain) if self.conv_clamp is not None else x


class DiscriminatorBlock(nn.Module):
    """Residual block at one resolution: [N, Cin, r, r] (+ image) -> [N, Cout, r/2, r/2]."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.in_channels = in_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append per-group feature stddev as `num_channels` extra channels: [N,C,H,W] -> [N,C+F,H,W].

    The group is the largest divisor of N not above `group_size` (so any batch size works).
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)
    return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch stddev, 3x3 conv, fc, linear out -> [N, 1]."""

    def __init__(self, channels: int, config: DiscriminatorConfig):
        super().__init__()
        self.group_size, self.num_channels = config.mbstd_group_size, config.mbstd_num_channels
        self.conv = Conv2dLayer(channels + config.mbstd_num_channels, channels, 3, activation="lrelu",
                                conv_clamp=config.conv_clamp)
        self.fc = FullyConnected(channels * 16, channels, activation="lrelu")
        self.out = FullyConnected(channels, 1)

    def extra_repr(self) -> str:
        return f"mbstd_group_size={self.group_size}, mbstd_num_channels={self.num_channels}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = minibatch_stddev(x, self.group_size, self.num_channels)
        return self.out(self.fc(self.conv(x).flatten(1)))


class Discriminator(nn.Module):
    """image [N, img_channels, R, R] in [-1, 1] -> real/fake logit [N, 1]."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        ch = config.channels
        self.resolutions = [r for r in reversed(block_resolutions(config.resolution)) if r > 4]
        for res in self.resolutions:
            in_channels = ch[res] if res < config.resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_channels, ch[res], ch[res // 2], config.img_channels,
                                                        config.conv_clamp))
        self.b4 = DiscriminatorEpilogue(ch[4], config)
        self.memory_format = torch.channels_last  # oneDNN/cuDNN's fastest conv layout (bench/gan_training.py)

    def extra_repr(self) -> str:
        return f"resolution={self.config.resolution}, img_channels={self.config.img_channels}"

    def forward(self, img: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """dtype: the precision of the blocks' activations (e.g. torch.bfloat16 for mixed-precision
        training; weights are cast per call). The 4x4 epilogue and the logits stay in img's dtype."""
        r, c = self.config.resolution, self.config.img_channels
        if img.ndim != 4 or img.shape[1:] != (c, r, r):
            raise InputError(f"discriminator input must be [N, {c}, {r}, {r}], got {list(img.shape)}")
        x = None
        blocks_in = img.to(dtype or img.dtype).contiguous(memory_format=self.memory_format)
        for res in self.resolutions:
            x = getattr(self, f"b{res}")(x, blocks_in)
        return self.b4(x.to(img.dtype))
