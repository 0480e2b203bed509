"""ArcFace IR-SE50 (improved residual units with squeeze-and-excitation), the identity network R of EditGAN Eq. 4.

Module and parameter names follow the InsightFace_Pytorch `model_ir_se50.pth` state dict (also used
by pSp and EditGAN), so that file loads as is (`editgan.io.arcface_weights`):

- input_layer: 0 conv3x3 3->64 (no bias), 1 BatchNorm2d(64), 2 PReLU(64);
- body.0 .. body.23: units (in, depth, stride); four stages of 3, 4, 14, 3 units with depths 64, 128,
  256, 512, the first unit of each stage with stride 2. A unit adds
    shortcut_layer: MaxPool2d(1, stride) when in == depth (no parameters), else
                    0 conv1x1 in->depth stride s (no bias), 1 BatchNorm2d(depth)
    res_layer:      0 BatchNorm2d(in), 1 conv3x3 in->depth, 2 PReLU(depth), 3 conv3x3 depth->depth stride s,
                    4 BatchNorm2d(depth), 5 SE: x * sigmoid(fc2(relu(fc1(mean over H, W of x)))),
                    fc1/fc2 1x1 convs depth->depth/16->depth without bias;
- output_layer: 0 BatchNorm2d(512), 1 Dropout, 2 Flatten, 3 Linear(512*7*7, 512), 4 BatchNorm1d(512);
- the embedding is L2-normalised.

Input: faces [N, 3, 112, 112] in [-1, 1] (aligned crops); output: unit vectors [N, 512].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 112
EMBED_DIM = 512
SE_REDUCTION = 16
# (depth, number of units) per stage; the first unit of each stage has stride 2.
STAGES_50 = ((64, 3), (128, 4), (256, 14), (512, 3))


def unit_specs(stages=STAGES_50) -> list[tuple[int, int, int]]:
    """(in_channels, depth, stride) of every body unit, in order."""
    specs, c_in = [], 64
    for depth, count in stages:
        for i in range(count):
            specs.append((c_in, depth, 2 if i == 0 else 1))
            c_in = depth
    return specs


class SqueezeExcite(nn.Module):
    """Channel gate: x * sigmoid(fc2(relu(fc1(global mean of x)))); fc1/fc2 are bias-free 1x1 convs."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class IRSEUnit(nn.Module):
    """One improved-residual unit with SE: shortcut(x) + res(x), downsampling by `stride`."""

    def __init__(self, c_in: int, depth: int, stride: int):
        super().__init__()
        if c_in == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(c_in, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.Conv2d(c_in, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SqueezeExcite(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_layer(x) + self.res_layer(x)


class IRSE50(nn.Module):
    """ArcFace IR-SE50: faces [N, 3, 112, 112] in [-1, 1] -> L2-normalised embeddings [N, 512]."""

    def __init__(self, dropout: float = 0.6):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = nn.Sequential(*(IRSEUnit(*spec) for spec in unit_specs()))
        side = INPUT_SIZE // 16
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
                                          nn.Linear(512 * side * side, EMBED_DIM), nn.BatchNorm1d(EMBED_DIM))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(faces))), dim=1)
