"""VGG16 convolutional trunk as LPIPS uses it: five stages, tapped after relu1_2 ... relu5_3.

The trunk is torchvision's `vgg16().features` up to relu5_3 (the last max-pool is never used):
stage s is a 2x2/2 max-pool (stages 2-5 only) followed by conv3x3(pad 1)+ReLU layers:

    stage 1: 3 -> 64 -> 64            (features.0, features.2)
    stage 2: 64 -> 128 -> 128         (features.5, features.7)
    stage 3: 128 -> 256 -> 256 -> 256 (features.10, .12, .14)
    stage 4: 256 -> 512 -> 512 -> 512 (features.17, .19, .21)
    stage 5: 512 -> 512 -> 512 -> 512 (features.24, .26, .28)

Parameters are kept in torchvision's state-dict names (`features.{i}.weight` [C_out, C_in, 3, 3],
`features.{i}.bias` [C_out]) so a torchvision checkpoint loads with `load_state_dict` directly.
Inputs are whatever the caller normalised (LPIPS feeds ScalingLayer output); an image [N, 3, H, W]
gives maps [N, C_s, H / 2^(s-1), W / 2^(s-1)] (floor division by the pools), so H, W >= 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (torchvision index of each conv, its output channels), per stage.
STAGES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 64), (2, 64)),
    ((5, 128), (7, 128)),
    ((10, 256), (12, 256), (14, 256)),
    ((17, 512), (19, 512), (21, 512)),
    ((24, 512), (26, 512), (28, 512)),
)
STAGE_CHANNELS: tuple[int, ...] = tuple(stage[-1][1] for stage in STAGES)
MIN_SIZE = 16  # four pools: stage 5 is H / 16


def conv_shapes() -> dict[str, tuple[int, ...]]:
    """Every parameter name of the trunk in torchvision's layout -> its shape."""
    shapes, c_in = {}, 3
    for stage in STAGES:
        for index, c_out in stage:
            shapes[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
            shapes[f"features.{index}.bias"] = (c_out,)
            c_in = c_out
    return shapes


class VGG16Features(nn.Module):
    """The trunk; forward returns the five relu{s}_{last} maps (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.ModuleDict()
        c_in = 3
        for stage in STAGES:
            for index, c_out in stage:
                self.features[str(index)] = nn.Conv2d(c_in, c_out, 3, padding=1)
                c_in = c_out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x [N, 3, H, W] -> [relu1_2, relu2_2, relu3_3, relu4_3, relu5_3]."""
        taps = []
        for s, stage in enumerate(STAGES):
            if s > 0:
                x = F.max_pool2d(x, 2)
            for index, _ in stage:
                x = F.relu(self.features[str(index)](x))
            taps.append(x)
        return taps
