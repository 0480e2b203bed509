"""Configuration of a StyleGAN2 generator: everything needed to rebuild it from a JSON file."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from editgan.errors import ConfigError
from editgan.nn.config_base import JsonConfig


def channels_for(resolution: int, channel_base: int = 32768, channel_max: int = 512) -> dict[int, int]:
    """StyleGAN2 widths per block resolution: min(channel_base // res, channel_max).

    config-f (channel multiplier 2) is channel_base=32768, channel_max=512; config-e is 16384.
    """
    return {res: min(channel_base // res, channel_max) for res in block_resolutions(resolution)}


def block_resolutions(resolution: int) -> list[int]:
    """[4, 8, ..., resolution]."""
    return [2**i for i in range(2, int(math.log2(resolution)) + 1)]


@dataclass
class GeneratorConfig(JsonConfig):
    """Shape of a StyleGAN2 generator ("skip" architecture, configs E/F).

    resolution: output size (power of two, 32..1024); channels: block resolution -> width;
    crop: (top, left, height, width) of the image content inside the square canvas, e.g. the car
    model's 512x384 content is (64, 0, 384, 512); None keeps the whole canvas.
    """

    resolution: int = 256
    z_dim: int = 512
    w_dim: int = 512
    num_mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channels: dict[int, int] = field(default_factory=dict)
    img_channels: int = 3
    conv_clamp: float | None = None
    crop: tuple[int, int, int, int] | None = None
    kind: ClassVar[str] = "generator"

    def __post_init__(self) -> None:
        self.channels = {int(k): int(v) for k, v in (self.channels or channels_for(self.resolution)).items()}
        if self.crop is not None:
            self.crop = tuple(int(v) for v in self.crop)  # type: ignore[assignment]
        self.validate()

    @property
    def num_ws(self) -> int:
        """Number of w vectors in w+: one per synthesis conv layer plus the final ToRGB."""
        return 2 * int(math.log2(self.resolution)) - 2

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the images it makes and takes: the crop's, or the whole canvas."""
        return (self.crop[2], self.crop[3]) if self.crop is not None else (self.resolution, self.resolution)

    @property
    def num_layers(self) -> int:
        """K+1: number of synthesis conv layers, i.e. of feature maps S^0..S^K."""
        return self.num_ws - 1

    def feature_shapes(self) -> list[tuple[int, int]]:
        """(channels, resolution) of each feature map S^k, k = 0..K."""
        shapes = [(self.channels[4], 4)]
        for res in block_resolutions(self.resolution)[1:]:
            shapes += [(self.channels[res], res)] * 2
        return shapes

    def validate(self) -> None:
        r = self.resolution
        if r < 8 or r > 4096 or r & (r - 1):
            raise ConfigError(f"resolution must be a power of two in 8..4096, got {r}")
        expected = set(block_resolutions(r))
        if set(self.channels) != expected:
            raise ConfigError(f"channels must give a width for each block resolution {sorted(expected)}, "
                              f"got {sorted(self.channels)}")
        if any(c < 1 for c in self.channels.values()):
            raise ConfigError("channel widths must be positive")
        for name in ("z_dim", "w_dim", "num_mapping_layers", "img_channels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be positive")
        if self.crop is not None:
            top, left, h, w = self.crop
            if len(self.crop) != 4 or top < 0 or left < 0 or h < 1 or w < 1 or top + h > r or left + w > r:
                raise ConfigError(f"crop {self.crop} does not fit in a {r}x{r} canvas")
