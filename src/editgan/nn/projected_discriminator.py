"""A projected discriminator (in the spirit of Sauer et al., Projected GANs, 2021): small trainable
discriminators on the features of a FROZEN feature pyramid, plus one on the image itself.

    image [N, C, R, R] in [-1, 1] -> patch logits [N, P]   (every branch's logit map, flattened)

Branch i sees the pyramid's stage-i features [N, c_i, r_i, r_i] concatenated with the image
average-pooled to r_i, mixed by a fixed random 1x1 projection (a frozen buffer: the "cross-channel
mixing" of Projected GANs) to c_i channels, then spectral-normalised stride-2 4x4 convs (LeakyReLU
0.2, widths doubling up to `max_width`) down to `head_resolution`, and a 3x3 conv to one logit per
position; with `mbstd_group_size` > 0 that conv also sees the minibatch standard deviation of the
branch's features (StyleGAN's diversity signal, one channel). The image branch does the same on the image from R. Only the branch discriminators
train: the pyramid's weights and the projections are buffers, so `parameters()` (the optimiser's)
never holds them, while gradients still flow through them to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from editgan.errors import CheckpointError, ConfigError, InputError
from editgan.nn.config_base import JsonConfig
from editgan.nn.discriminator import minibatch_stddev
from editgan.nn.feature_pyramid import FeaturePyramid, FeaturePyramidConfig, backbone_features, make_backbone


@dataclass
class ProjectedDiscriminatorConfig(JsonConfig):
    """features: the frozen FeaturePyramidConfig's fields (its resolution is this one's);
    image_width: the image branch's first width; max_width: every branch's width cap;
    head_resolution: where each branch stops downsampling and emits its logit map (None: 8, or the
    coarsest feature map if smaller); mbstd_group_size: groups for the minibatch-stddev channel
    before each logit conv (0: none)."""

    resolution: int = 128
    features: dict = field(default_factory=dict)
    image_width: int = 32
    max_width: int = 256
    head_resolution: int | None = None
    img_channels: int = 3
    mbstd_group_size: int = 0
    kind: ClassVar[str] = "projected discriminator"

    def __post_init__(self) -> None:
        pyramid = self.pyramid_config()
        self.features = pyramid.to_json()
        if pyramid.img_channels != self.img_channels:
            raise ConfigError(f"feature pyramid img_channels {pyramid.img_channels} != {self.img_channels}")
        if self.head_resolution is None:
            self.head_resolution = min(8, *pyramid.stage_resolutions())
        if not 1 <= self.head_resolution <= min(pyramid.stage_resolutions()):
            raise ConfigError(f"head_resolution must be in [1, {min(pyramid.stage_resolutions())}] (the "
                              f"coarsest feature map), got {self.head_resolution}")
        if self.resolution % self.head_resolution or (self.resolution // self.head_resolution) & (
                self.resolution // self.head_resolution - 1):
            raise ConfigError(f"resolution / head_resolution must be a power of two, got "
                              f"{self.resolution} / {self.head_resolution}")
        if min(self.image_width, self.max_width) < 1 or self.mbstd_group_size < 0:
            raise ConfigError("image_width and max_width must be positive, mbstd_group_size >= 0")

    def pyramid_config(self) -> FeaturePyramidConfig:
        return FeaturePyramidConfig(**{**self.features, "resolution": self.resolution})


class SpectralConv(nn.Module):
    """Spectral-normalised conv (one power iteration per training-mode call), weights cast to the
    input's dtype: [N, Cin, r, r] -> [N, Cout, r / stride, r / stride]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.stride, self.padding = stride, (kernel_size - stride + 1) // 2
        self.conv = spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size, stride, self.padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.conv.weight.to(x.dtype), self.conv.bias.to(x.dtype), self.stride, self.padding)


class MinibatchStddev(nn.Module):
    """[N, C, h, w] -> [N, C + 1, h, w]: the features' standard deviation over groups of the batch."""

    def __init__(self, group_size: int):
        super().__init__()
        self.group_size = group_size

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size)


class BranchDiscriminator(nn.Module):
    """[N, C, r, r] -> logit map [N, 1, head, head]: stride-2 4x4 SN convs + LeakyReLU(0.2) from r
    down to `head`, widths doubling from `width` up to `max_width`, then (after a minibatch-stddev
    channel when `mbstd_group_size` > 0) an SN 3x3 conv to 1."""

    def __init__(self, in_channels: int, width: int, resolution: int, head: int, max_width: int,
                 mbstd_group_size: int = 0):
        super().__init__()
        layers, c, r = [], in_channels, resolution
        while r > head:
            layers += [SpectralConv(c, width, 4, stride=2), nn.LeakyReLU(0.2, inplace=True)]
            c, width, r = width, min(width * 2, max_width), r // 2
        if mbstd_group_size:
            layers.append(MinibatchStddev(mbstd_group_size))
        layers.append(SpectralConv(c + (1 if mbstd_group_size else 0), 1, 3))
        self.layers = nn.Sequential(*layers)
        self.resolution, self.head = resolution, head

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, head={self.head}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of `module` into a buffer of the same name (kept in state_dict, moved by
    .to(), never returned by parameters() nor touched by requires_grad_); returns `module`."""
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is not None:
                del sub._parameters[name]
                sub.register_buffer(name, param.detach())
    return module


class ProjectedDiscriminator(nn.Module):
    """image [N, C, R, R] in [-1, 1] -> patch logits [N, P]; see the module docstring."""

    def __init__(self, config: ProjectedDiscriminatorConfig, seed: int = 0):
        """seed: draws the fixed random projections (kaiming-normal 1x1, one per feature scale)."""
        super().__init__()
        self.config = config
        pyramid = config.pyramid_config()
        self.features = freeze_as_buffers(make_backbone(pyramid)).eval()
        draw = torch.Generator().manual_seed(seed)
        for i, (c, r) in enumerate(zip(pyramid.widths, pyramid.stage_resolutions())):
            c_in = c + config.img_channels
            self.register_buffer(f"projection{i}", torch.randn(c, c_in, 1, 1, generator=draw) * math.sqrt(2 / c_in))
            setattr(self, f"branch{i}", BranchDiscriminator(c, min(c, config.max_width), r, config.head_resolution,
                                                            config.max_width, config.mbstd_group_size))
        self.image_branch = BranchDiscriminator(config.img_channels, config.image_width, config.resolution,
                                                config.head_resolution, config.max_width, config.mbstd_group_size)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, img_channels={cfg.img_channels}, " \
               f"head_resolution={cfg.head_resolution}, max_width={cfg.max_width}"

    def train(self, mode: bool = True) -> "ProjectedDiscriminator":
        """The frozen pyramid stays in eval mode (running batch-norm statistics) whatever `mode`."""
        super().train(mode)
        self.features.eval()
        return self

    @torch.no_grad()
    def load_features(self, pyramid: FeaturePyramid) -> None:
        """Copy a trained pyramid's backbone into the frozen features (its head is not used)."""
        if pyramid.config != self.config.pyramid_config():
            raise CheckpointError(f"feature pyramid {pyramid.config.to_json()} does not match this "
                                  f"discriminator's {self.config.features}")
        self.features.load_state_dict(pyramid.stages.state_dict())

    def forward(self, img: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """dtype: the precision of every conv (e.g. torch.bfloat16; weights are cast per call). The
        logits come back in img's dtype."""
        r, c = self.config.resolution, self.config.img_channels
        if img.ndim != 4 or img.shape[1:] != (c, r, r):
            raise InputError(f"discriminator input must be [N, {c}, {r}, {r}], got {list(img.shape)}")
        x = img.to(dtype or img.dtype).contiguous(memory_format=torch.channels_last)
        logits = [self.image_branch(x)]
        for i, feature in enumerate(backbone_features(self.features, x)):
            pooled = F.adaptive_avg_pool2d(x, feature.shape[-1])
            mixed = F.conv2d(torch.cat([feature, pooled], 1), getattr(self, f"projection{i}").to(x.dtype))
            logits.append(getattr(self, f"branch{i}")(mixed))
        return torch.cat([m.flatten(1) for m in logits], 1).to(img.dtype)
