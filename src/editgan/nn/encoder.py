"""Image encoder E: image [N, 3, R, R] in [-1, 1] -> w+ [N, num_ws, w_dim] (EditGAN App. A.2).

A pSp-style feature pyramid (Richardson et al. 2021), built from plain convolutions:

- backbone: a 3x3 stem at R, then stages that halve the resolution (3x3 stride-2 conv + 3x3 conv,
  leaky ReLU) down to the coarse resolution; stage widths double from `channels` up to `max_channels`.
- pyramid: the backbone maps at the fine (4 * coarse), medium (2 * coarse) and coarse resolution pass
  through 1x1 lateral convs to `fpn_channels`; coarse is added, upsampled, to medium, and medium to
  fine (top-down path).
- map2style heads, one per w+ code: 3x3 stride-2 convs from the level's resolution down to 1x1,
  then a linear layer to w_dim. Codes 0..n_coarse-1 read the coarse level, the next n_medium the
  medium level, the rest the fine level (pSp: 3 / 4 / 11 of 18 codes).

The heads predict offsets from the generator's average latent: E(x) = w_avg broadcast + delta(x).
Each head's final linear layer starts at zero, so an untrained encoder returns w_avg exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn.config_base import JsonConfig
from editgan.nn.pretrained import Pretrained

LEVELS = ("coarse", "medium", "fine")


def code_level(index: int, groups: tuple[int, int]) -> str:
    """Pyramid level ('coarse', 'medium', 'fine') feeding w+ code `index` when the first groups[0]
    codes read the coarse level and the next groups[1] the medium one."""
    n_coarse, n_medium = groups
    return "coarse" if index < n_coarse else "medium" if index < n_coarse + n_medium else "fine"


def check_encoder_input(images: torch.Tensor, resolution: int) -> None:
    """InputError unless `images` is float [N, 3, resolution, resolution]."""
    r = resolution
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, r, r) or not images.is_floating_point():
        raise InputError(f"encoder input must be float [N, 3, {r}, {r}] in [-1, 1], "
                         f"got {images.dtype} {list(images.shape)}")


def generator_shape(G) -> dict:
    """The encoder config fields a generator fixes: {"resolution", "num_ws", "w_dim"}."""
    return {"resolution": G.config.resolution, "num_ws": G.config.num_ws, "w_dim": G.config.w_dim}


def default_groups(num_ws: int) -> tuple[int, int]:
    """(n_coarse, n_medium) in pSp's 3 : 4 : 11 proportion, each level getting at least one code."""
    return max(1, num_ws * 3 // 18), max(1, num_ws * 4 // 18)


def place_on_canvas(images: torch.Tensor, crop: tuple[int, int, int, int] | None, side: int) -> torch.Tensor:
    """Images [N, C, h, w] of a cropped generator's content -> [N, C, side, side] with the content at
    crop (top, left, h, w) and black (-1) elsewhere: the input of an encoder for such a generator
    (the official car encoder reads the 512x512 canvas with black bands). crop None: unchanged."""
    if crop is None:
        return images
    top, left, h, w = crop
    if tuple(images.shape[-2:]) != (h, w):
        raise InputError(f"images must be [N, C, {h}, {w}] for the crop {crop}, got {list(images.shape)}")
    canvas = images.new_full((*images.shape[:-2], side, side), -1.0)
    canvas[..., top:top + h, left:left + w] = images
    return canvas


@dataclass
class EncoderConfig(JsonConfig):
    """Shape of an encoder. resolution: input side R (power of two >= 16); coarse_resolution: side
    of the coarsest pyramid level (default max(R / 16, 4), pSp's 16 at R = 256)."""

    resolution: int
    num_ws: int
    w_dim: int
    channels: int = 32
    max_channels: int = 256
    fpn_channels: int = 128
    coarse_resolution: int | None = None
    groups: tuple[int, int] | None = None
    kind: ClassVar[str] = "encoder"

    def __post_init__(self) -> None:
        if self.coarse_resolution is None and isinstance(self.resolution, int):
            self.coarse_resolution = max(self.resolution // 16, 4)
        if self.groups is None and isinstance(self.num_ws, int):
            self.groups = default_groups(self.num_ws)
        if self.groups is not None:
            self.groups = tuple(self.groups)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        ints = {k: v for k, v in asdict(self).items() if k != "groups"}
        bad = [k for k, v in ints.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        if bad:
            raise ConfigError(f"encoder config fields {bad} must be positive integers")
        r, c = self.resolution, self.coarse_resolution
        if r < 16 or r & (r - 1):
            raise ConfigError(f"encoder resolution must be a power of two >= 16, got {r}")
        if c & (c - 1) or c * 4 > r:
            raise ConfigError(f"coarse_resolution must be a power of two with 4 * it <= {r}, got {c}")
        if (len(self.groups) != 2 or any(not isinstance(g, int) or g < 1 for g in self.groups)
                or sum(self.groups) >= self.num_ws):
            raise ConfigError(f"groups (n_coarse, n_medium) must be positive and leave >= 1 of the "
                              f"{self.num_ws} codes to the fine level, got {self.groups}")

    def level_of(self, index: int) -> str:
        """Pyramid level ('coarse', 'medium', 'fine') that feeds w+ code `index`."""
        return code_level(index, self.groups)

    def level_resolution(self, level: str) -> int:
        return self.coarse_resolution * 2 ** LEVELS.index(level)

    def width(self, resolution: int) -> int:
        """Backbone width at a given side: channels doubled per halving, capped at max_channels."""
        return min(self.channels * self.resolution // resolution, self.max_channels)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class Map2Style(nn.Module):
    """[N, C, r, r] -> [N, w_dim]: log2(r) stride-2 3x3 convs to 1x1, then a zero-initialised linear."""

    def __init__(self, channels: int, resolution: int, w_dim: int):
        super().__init__()
        self.resolution = resolution
        self.convs = nn.Sequential(*[_conv(channels, channels, 2) for _ in range(int(math.log2(resolution)))])
        self.linear = nn.Linear(channels, w_dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class Encoder(Pretrained, nn.Module):
    """E(x) = w_avg + delta(x); `w_avg` [w_dim] is a buffer copied from the generator."""

    config_class, file_format, file_name = EncoderConfig, "editgan-encoder", "encoder"
    architecture: ClassVar[str] = "pyramid"

    def __init__(self, config: EncoderConfig, w_avg: torch.Tensor | None = None):
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise ConfigError("Encoder needs an EncoderConfig")
        self.config = cfg = config
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        if w_avg is not None:
            if tuple(w_avg.shape) != (cfg.w_dim,):
                raise ConfigError(f"w_avg must be [{cfg.w_dim}], got {list(w_avg.shape)}")
            self.w_avg.copy_(w_avg.detach())
        self.stem = _conv(3, cfg.width(cfg.resolution))
        stages, r = [], cfg.resolution
        while r > cfg.coarse_resolution:
            half = cfg.width(r // 2)
            stages.append(nn.Sequential(_conv(cfg.width(r), half, 2), _conv(half, half)))
            r //= 2
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleDict({lv: nn.Conv2d(cfg.width(cfg.level_resolution(lv)), cfg.fpn_channels, 1)
                                      for lv in LEVELS})
        self.heads = nn.ModuleList([Map2Style(cfg.fpn_channels, cfg.level_resolution(cfg.level_of(i)), cfg.w_dim)
                                    for i in range(cfg.num_ws)])

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, num_ws={cfg.num_ws}, w_dim={cfg.w_dim}, " \
               f"coarse_resolution={cfg.coarse_resolution}, fpn_channels={cfg.fpn_channels}"

    @classmethod
    def for_generator(cls, G, **fields) -> "Encoder":
        """An untrained encoder for generator G (its shape and w_avg); `fields`: other config fields."""
        return cls(EncoderConfig.from_json({**fields, **generator_shape(G)}), G.w_avg)

    def pyramid(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images [N, 3, R, R] -> {level: [N, fpn_channels, r_level, r_level]} after the top-down path."""
        cfg = self.config
        x = self.stem(images)
        by_res = {x.shape[-1]: x}
        for stage in self.stages:
            x = stage(x)
            by_res[x.shape[-1]] = x
        levels = {"coarse": self.lateral["coarse"](by_res[cfg.level_resolution("coarse")])}
        for finer, coarser in (("medium", "coarse"), ("fine", "medium")):
            up = F.interpolate(levels[coarser], scale_factor=2, mode="bilinear", align_corners=False)
            levels[finer] = self.lateral[finer](by_res[cfg.level_resolution(finer)]) + up
        return levels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images float [N, 3, R, R] in [-1, 1] -> w+ [N, num_ws, w_dim]."""
        check_encoder_input(images, self.config.resolution)
        levels = self.pyramid(images)
        delta = torch.stack([head(levels[self.config.level_of(i)]) for i, head in enumerate(self.heads)], dim=1)
        return self.w_avg + delta
