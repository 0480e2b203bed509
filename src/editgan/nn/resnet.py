"""ResNet bottleneck backbone (He et al. 2016; ResNet-50 at base width 64, depths 3, 4, 6, 3).

images [N, C_in, H, W] -> feature maps (c2, c3, c4, c5) at 1/4, 1/8, 1/16, 1/32 of the input side,
with 4 * base * (1, 2, 4, 8) channels. Stem: 7x7 stride-2 conv (no bias), BatchNorm, ReLU, 3x3
stride-2 max pool. Stage k (k = 1..4) stacks `depths[k-1]` bottleneck blocks of width base * 2^(k-1);
its first block strides by 2 (stage 1: by 1) in the 3x3 conv. Parameter names follow the published
torchvision layout: conv1, bn1, layer{k}.{b}.conv1/bn1/conv2/bn2/conv3/bn3 and downsample.0/.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EXPANSION = 4  # a bottleneck block's output width / its inner width


class Bottleneck(nn.Module):
    """[N, c_in, h, w] -> [N, 4 * width, h / stride, w / stride]:
    relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))."""

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = EXPANSION * width
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetBackbone(nn.Module):
    """The stem and four bottleneck stages (module docstring); `widths` are c2..c5's channels."""

    def __init__(self, base_width: int = 64, depths: tuple[int, ...] = (3, 4, 6, 3), in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.widths = tuple(EXPANSION * base_width * 2 ** k for k in range(len(depths)))
        c_in = base_width
        for k, depth in enumerate(depths):
            blocks = []
            for b in range(depth):
                blocks.append(Bottleneck(c_in, base_width * 2 ** k, 2 if b == 0 and k > 0 else 1))
                c_in = self.widths[k]
            setattr(self, f"layer{k + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images [N, C_in, H, W] -> [c2, c3, c4, c5] (one map per stage)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(images))), 3, 2, 1)
        maps = []
        for k in range(self.num_stages):
            x = getattr(self, f"layer{k + 1}")(x)
            maps.append(x)
        return maps
