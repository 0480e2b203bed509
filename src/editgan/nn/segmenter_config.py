"""Configuration of the segmentation branch: which generator feature maps feed it, how they are
resampled, and the shape of its pixel-MLP ensemble. Rebuildable from JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from editgan.errors import ConfigError
from editgan.nn.config import GeneratorConfig
from editgan.nn.config_base import JsonConfig
from editgan.nn.resample import MODES


def default_hidden(num_classes: int) -> tuple[int, int]:
    """DatasetGAN's widths: 256/128 when there are >= 32 classes, else 128/32."""
    return (256, 128) if num_classes >= 32 else (128, 32)


LABEL_RULES = ("mean_probs", "mean_logits")  # SegmenterConfig.label_rule: mean softmax (default) / mean logits


@dataclass
class SegmenterConfig(JsonConfig):
    """Shape of a DatasetGAN-style segmentation branch.

    feature_shapes: (channels, resolution) of each feature map, in concatenation order (the
    order of the first layer's input columns). With include_const the first entry is the
    generator's learned 4x4 constant input, as in the EditGAN release (that is where its car
    model's 6016 = 512 + 5504 input channels come from), followed by the synthesis conv outputs
    S^k for k in `layers` (None: all of S^0..S^K).
    out_resolution: the square canvas every map is resampled to (bilinear with
    align_corners=False, DatasetGAN's `nn.Upsample(mode='bilinear')`, or nearest).
    crop: (top, left, height, width) of the canvas that is labelled (the 512x384 car: (64, 0, 384, 512)).
    label_rule: how the members' outputs become the label map that is displayed (and that a painted
    mask is compared with): "mean_probs", the argmax of the mean softmax (the paper's, our default),
    or "mean_logits", the argmax of the mean logits (what the official EditGAN release displays).
    One member: both are the same map.
    """

    num_classes: int
    feature_shapes: list[tuple[int, int]]
    out_resolution: int
    num_members: int = 10
    hidden: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    crop: tuple[int, int, int, int] | None = None
    include_const: bool = True
    layers: list[int] | None = None
    bn_eps: float = 1e-5
    label_rule: str = "mean_probs"
    kind: ClassVar[str] = "segmenter"

    def __post_init__(self) -> None:
        self.feature_shapes = [(int(c), int(r)) for c, r in self.feature_shapes]
        self.hidden = tuple(int(h) for h in (self.hidden or default_hidden(self.num_classes)))  # type: ignore[assignment]
        if self.crop is not None:
            self.crop = tuple(int(v) for v in self.crop)  # type: ignore[assignment]
        if self.layers is not None:
            self.layers = [int(k) for k in self.layers]
        self.validate()

    @classmethod
    def for_generator(cls, generator_config: GeneratorConfig, num_classes: int, *, include_const: bool = True,
                      layers: list[int] | None = None, out_resolution: int | None = None, **kwargs) -> "SegmenterConfig":
        """The config that reads `generator_config`'s feature maps (crop taken from the generator)."""
        shapes = generator_config.feature_shapes()
        chosen = list(range(len(shapes))) if layers is None else list(layers)
        bad = [k for k in chosen if not 0 <= k < len(shapes)]
        if bad or len(set(chosen)) != len(chosen) or chosen != sorted(chosen):
            raise ConfigError(f"layers must be distinct increasing indices in 0..{len(shapes) - 1}, got {chosen}")
        used = ([(generator_config.channels[4], 4)] if include_const else []) + [shapes[k] for k in chosen]
        kwargs.setdefault("crop", generator_config.crop)
        return cls(num_classes=num_classes, feature_shapes=used,
                   out_resolution=out_resolution or generator_config.resolution,
                   include_const=include_const, layers=None if layers is None else chosen, **kwargs)

    @property
    def in_features(self) -> int:
        """Width of the concatenated per-pixel feature vector."""
        return sum(c for c, _ in self.feature_shapes)

    @property
    def out_size(self) -> tuple[int, int]:
        """(height, width) of the label map: the crop, or the whole canvas."""
        return (self.crop[2], self.crop[3]) if self.crop else (self.out_resolution, self.out_resolution)

    @property
    def origin(self) -> tuple[int, int]:
        """Canvas (row, column) of the label map's top-left pixel."""
        return (self.crop[0], self.crop[1]) if self.crop else (0, 0)

    def validate(self) -> None:
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.num_members < 1:
            raise ConfigError(f"num_members must be >= 1, got {self.num_members}")
        if len(self.hidden) != 2 or min(self.hidden) < 1:
            raise ConfigError(f"hidden must be two positive widths, got {self.hidden}")
        if not self.feature_shapes or any(c < 1 or r < 1 for c, r in self.feature_shapes):
            raise ConfigError(f"feature_shapes must list positive (channels, resolution) pairs, got {self.feature_shapes}")
        if self.interpolation not in MODES:
            raise ConfigError(f"interpolation must be one of {MODES}, got {self.interpolation!r}")
        if self.out_resolution < 1:
            raise ConfigError(f"out_resolution must be positive, got {self.out_resolution}")
        if self.crop is not None:
            top, left, h, w = self.crop
            r = self.out_resolution
            if top < 0 or left < 0 or h < 1 or w < 1 or top + h > r or left + w > r:
                raise ConfigError(f"crop {self.crop} does not fit in a {r}x{r} canvas")
        if self.bn_eps <= 0:
            raise ConfigError("bn_eps must be positive")
        if self.label_rule not in LABEL_RULES:
            raise ConfigError(f"label_rule must be one of {LABEL_RULES}, got {self.label_rule!r}")
