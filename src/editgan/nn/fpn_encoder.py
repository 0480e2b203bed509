"""The official EditGAN release's image encoder: image [N, 3, R, R] in [-1, 1] -> w+ [N, num_ws, w_dim].

The architecture of nv-tlabs/editGAN_release `models/encoder/encoder.py` (FPNEncoder), the one its
car encoder checkpoint was trained with (read it with `editgan.io.editgan_encoder`):

- backbone: a ResNet of bottleneck blocks (`editgan.nn.resnet`; ResNet-50 in the release) giving
  c2..c5 at R/4 .. R/32.
- pyramid (FPN): p = 1x1 conv(c5); then for (c4, c3, c2): p = bilinear-up(p) + 1x1 conv(c) (the
  up-sampled sums feed the next level); finally a 3x3 conv on each sum gives p4, p3, p2, all with
  `fpn_channels` channels, at sides R/16, R/8, R/4.
- heads, one per w+ code: codes 0..groups[0]-1 read p4 (coarse), the next groups[1] read p3
  (medium), the rest p2 (fine); a head applies log2(side) 3x3 stride-2 convs (w_dim wide, with bias,
  leaky ReLU of slope 0.01) down to 1x1, then a linear layer w_dim -> w_dim.

The output is the w+ code itself (the release adds no average latent). BatchNorm layers always use
their running statistics (frozen, as usual when fine-tuning a detection-style backbone with small
per-process batches); their affine parameters still train.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import ConfigError
from editgan.nn.config_base import JsonConfig
from editgan.nn.encoder import check_encoder_input, code_level, generator_shape
from editgan.nn.pretrained import Pretrained
from editgan.nn.resnet import ResNetBackbone

HEAD_SLOPE = 0.01  # the release's heads use nn.LeakyReLU() with its default slope


@dataclass
class FPNEncoderConfig(JsonConfig):
    """Shape of an FPN encoder; defaults are the EditGAN car release (ResNet-50, 512 px, 16 x 512).

    resolution: input side R (power of two >= 32); base_width: the ResNet stem width (stage widths
    base * 1, 2, 4, 8, outputs 4x that); depths: blocks per stage; groups: (n_coarse, n_medium)."""

    resolution: int = 512
    num_ws: int = 16
    w_dim: int = 512
    base_width: int = 64
    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    fpn_channels: int = 512
    groups: tuple[int, int] = (3, 4)
    kind: ClassVar[str] = "FPN encoder"

    def __post_init__(self) -> None:
        self.depths, self.groups = tuple(self.depths), tuple(self.groups)
        self.validate()

    def validate(self) -> None:
        ints = {k: v for k, v in asdict(self).items() if k not in ("depths", "groups")}
        ints.update({f"depths[{i}]": v for i, v in enumerate(self.depths)})
        ints.update({f"groups[{i}]": v for i, v in enumerate(self.groups)})
        bad = [k for k, v in ints.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        if bad or len(self.depths) != 4 or len(self.groups) != 2:
            raise ConfigError(f"FPN encoder config: {bad or 'depths / groups'} must be positive integers "
                              "(four depths, two groups)")
        r = self.resolution
        if r < 32 or r & (r - 1):
            raise ConfigError(f"FPN encoder resolution must be a power of two >= 32, got {r}")
        if sum(self.groups) >= self.num_ws:
            raise ConfigError(f"groups {self.groups} must leave >= 1 of the {self.num_ws} codes to the fine level")

    def level_side(self, index: int) -> int:
        """Side of the pyramid level that feeds w+ code `index` (R/16, R/8 or R/4)."""
        return self.resolution // {"coarse": 16, "medium": 8, "fine": 4}[code_level(index, self.groups)]


class Pyramid(nn.Module):
    """[c2, c3, c4, c5] -> (p2, p3, p4), each [N, channels, side, side] (module docstring)."""

    def __init__(self, widths: tuple[int, ...], channels: int):
        super().__init__()
        self.top = nn.Conv2d(widths[3], channels, 1)
        self.lateral = nn.ModuleList([nn.Conv2d(widths[k], channels, 1) for k in (2, 1, 0)])  # c4, c3, c2
        self.smooth = nn.ModuleList([nn.Conv2d(channels, channels, 3, 1, 1) for _ in range(3)])  # p4, p3, p2

    def forward(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.top(maps[3])
        sums = []
        for lateral, c in zip(self.lateral, (maps[2], maps[1], maps[0])):
            p = F.interpolate(p, size=c.shape[-2:], mode="bilinear", align_corners=False) + lateral(c)
            sums.append(p)
        p4, p3, p2 = (smooth(s) for smooth, s in zip(self.smooth, sums))
        return p2, p3, p4


class ToStyle(nn.Module):
    """[N, c_in, side, side] -> [N, w_dim]: log2(side) stride-2 3x3 convs + leaky ReLU, then a linear."""

    def __init__(self, c_in: int, w_dim: int, side: int):
        super().__init__()
        self.side = side
        layers: list[nn.Module] = []
        for j in range(int(math.log2(side))):
            layers += [nn.Conv2d(c_in if j == 0 else w_dim, w_dim, 3, 2, 1), nn.LeakyReLU(HEAD_SLOPE)]
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(w_dim, w_dim)

    def extra_repr(self) -> str:
        return f"side={self.side}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class FPNEncoder(Pretrained, nn.Module):
    """E(x) = w+ directly (no w_avg); see the module docstring."""

    config_class, file_format, file_name = FPNEncoderConfig, "editgan-fpn-encoder", "encoder"
    architecture: ClassVar[str] = "fpn"

    def __init__(self, config: FPNEncoderConfig):
        super().__init__()
        if not isinstance(config, FPNEncoderConfig):
            raise ConfigError("FPNEncoder needs an FPNEncoderConfig")
        self.config = cfg = config
        self.backbone = ResNetBackbone(cfg.base_width, cfg.depths)
        self.pyramid = Pyramid(self.backbone.widths, cfg.fpn_channels)
        self.heads = nn.ModuleList([ToStyle(cfg.fpn_channels, cfg.w_dim, cfg.level_side(i))
                                    for i in range(cfg.num_ws)])

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, num_ws={cfg.num_ws}, w_dim={cfg.w_dim}, depths={cfg.depths}, " \
               f"fpn_channels={cfg.fpn_channels}"

    @classmethod
    def for_generator(cls, G, **fields) -> "FPNEncoder":
        """An untrained encoder for generator G (its shape); `fields`: other config fields."""
        return cls(FPNEncoderConfig.from_json({**fields, **generator_shape(G)}))

    def train(self, mode: bool = True) -> "FPNEncoder":
        """Train mode for everything but BatchNorm, which keeps its running statistics."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images float [N, 3, R, R] in [-1, 1] -> w+ [N, num_ws, w_dim]."""
        check_encoder_input(images, self.config.resolution)
        levels = {p.shape[-1]: p for p in self.pyramid(self.backbone(images))}
        return torch.stack([head(levels[self.config.level_side(i)]) for i, head in enumerate(self.heads)], dim=1)
