"""A small convolutional feature pyramid trained to segment images: the frozen feature extractor of
the projected discriminator (`nn.projected_discriminator`), in the spirit of Projected GANs where no
pretrained ImageNet network is available (train it with `editgan.train.feature_training`).

    image [N, C, R, R] in [-1, 1] -> backbone features [N, widths[i], R / 2^(i+1), R / 2^(i+1)]
    segment(image) -> logits [N, num_classes, R, R]   (an FPN head over every stage)

Each stage is a stride-2 3x3 conv and a 3x3 conv, each with batch norm and ReLU. In eval mode the
batch norm is folded into a per-channel affine in the input's dtype, so the frozen backbone runs in
bfloat16 as readily as in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn.config_base import JsonConfig
from editgan.nn.pretrained import Pretrained


@dataclass
class FeaturePyramidConfig(JsonConfig):
    """resolution: input size (a multiple of 2^len(widths)); widths: one per stage, each stage halving
    the resolution; head_width: the FPN head's width; num_classes: the segmentation labels."""

    resolution: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    num_classes: int = 15
    head_width: int = 64
    img_channels: int = 3
    kind: ClassVar[str] = "feature pyramid"

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or min(self.widths) < 1:
            raise ConfigError(f"feature pyramid widths must be positive, got {self.widths}")
        if self.resolution < 2 ** len(self.widths) or self.resolution % 2 ** len(self.widths):
            raise ConfigError(f"feature pyramid resolution {self.resolution} must be a multiple of "
                              f"2^{len(self.widths)} (one halving per stage)")
        if min(self.num_classes, self.head_width, self.img_channels) < 1:
            raise ConfigError("feature pyramid num_classes, head_width and img_channels must be positive")

    def stage_resolutions(self) -> list[int]:
        """The side of each stage's features: R/2, R/4, ..."""
        return [self.resolution >> (i + 1) for i in range(len(self.widths))]


class ConvNormReLU(nn.Module):
    """3x3 conv (no bias, optional stride 2) + batch norm + ReLU: [N, Cin, r, r] -> [N, Cout, r/s, r/s]."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.conv.weight.to(x.dtype), stride=self.stride, padding=1)
        if self.training:
            return F.relu(self.norm(x))
        scale = self.norm.weight * torch.rsqrt(self.norm.running_var + self.norm.eps)
        shift = self.norm.bias - self.norm.running_mean * scale
        return F.relu(torch.addcmul(shift.to(x.dtype)[:, None, None], x, scale.to(x.dtype)[:, None, None]))


def make_backbone(config: FeaturePyramidConfig) -> nn.ModuleList:
    """The stages of `config`: stage i maps [N, widths[i-1], r, r] -> [N, widths[i], r/2, r/2]."""
    ins = (config.img_channels,) + config.widths[:-1]
    return nn.ModuleList(nn.Sequential(ConvNormReLU(cin, cout, stride=2), ConvNormReLU(cout, cout))
                         for cin, cout in zip(ins, config.widths))


def backbone_features(stages: nn.ModuleList, img: torch.Tensor) -> list[torch.Tensor]:
    """Every stage's output for `img` [N, C, R, R], finest first."""
    features, x = [], img
    for stage in stages:
        x = stage(x)
        features.append(x)
    return features


class FeaturePyramid(Pretrained, nn.Module):
    """Backbone (`stages`) + FPN segmentation head; see the module docstring for shapes."""

    config_class = FeaturePyramidConfig
    file_format = "editgan-feature-pyramid"
    file_name = "feature_pyramid"

    def __init__(self, config: FeaturePyramidConfig):
        super().__init__()
        self.config = config
        self.stages = make_backbone(config)
        self.lateral = nn.ModuleList(nn.Conv2d(w, config.head_width, 1) for w in config.widths)
        self.head = ConvNormReLU(config.head_width, config.head_width)
        self.classify = nn.Conv2d(config.head_width, config.num_classes, 1)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, widths={cfg.widths}, head_width={cfg.head_width}, " \
               f"num_classes={cfg.num_classes}"

    def _check(self, img: torch.Tensor) -> None:
        r, c = self.config.resolution, self.config.img_channels
        if img.ndim != 4 or img.shape[1:] != (c, r, r):
            raise InputError(f"feature pyramid input must be [N, {c}, {r}, {r}], got {list(img.shape)}")

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        """img [N, C, R, R] in [-1, 1] -> the backbone's features, finest (R/2) first."""
        self._check(img)
        return backbone_features(self.stages, img)

    def segment(self, img: torch.Tensor) -> torch.Tensor:
        """img [N, C, R, R] in [-1, 1] -> label logits [N, num_classes, R, R]: laterals summed top-down
        (nearest 2x upsampling), a 3x3 head at R/2, a 1x1 classifier, bilinear 2x to R."""
        features = self.forward(img)
        x = self.lateral[-1](features[-1])
        for feature, lateral in zip(reversed(features[:-1]), reversed(self.lateral[:-1])):
            x = F.interpolate(x, scale_factor=2, mode="nearest") + lateral(feature)
        logits = self.classify(self.head(x))
        return F.interpolate(logits, size=img.shape[-2:], mode="bilinear", align_corners=False)
