"""The small CNNs that measure edits on toonfaces, and loading them from the package assets.

Both networks share one architecture (`ToonNet`): images float [N, 3, S, S] in [-1, 1] (any S,
64..256 for toonfaces) are resized to `input_size`, go through a stride-2 stem (which still sees
every pixel, so 1-2 pixel details such as pupils survive) and strided conv stages, and a linear
layer gives the penultimate features [N, feature_dim]; a head maps them to the outputs:
- attribute network: [N, len(ATTRIBUTES)] expression attributes in parameter units;
- identity network: [N, embed_dim] embedding, compared by cosine similarity.
Weights are safetensors files under editgan/assets/toonfaces/ with a JSON config (measures.json).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from editgan.errors import InputError, MissingWeightsError

ATTRIBUTES = ("smile", "mouth_open", "eye_open", "gaze_x", "gaze_y", "brow_raise", "pupil_size")
ASSET_DIR = "assets/toonfaces"
CONFIG_NAME = "measures.json"


class ToonNet(nn.Module):
    """Stride-2 stem, then stages of two 3x3 convs (the first strided), each conv + BN + ReLU;
    flatten -> linear features [N, feature_dim] -> linear head [N, out_dim]."""

    def __init__(self, widths: list[int], feature_dim: int, out_dim: int, input_size: int = 128) -> None:
        super().__init__()
        self.input_size = input_size
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(widths):
            for stride in ((2,) if i == 0 else (2, 1)):
                layers += [nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                c_in = c
        self.body = nn.Sequential(*layers)
        side = input_size >> len(widths)
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, out_dim)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Check images [N, 3, H, W] in [-1, 1] and resize them (antialiased) to input_size."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
            raise InputError(f"images must be float [N, 3, S, S], got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise InputError(f"images must be float in [-1, 1], got {images.dtype}")
        images = images.float()
        if images.shape[-1] != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", antialias=True, align_corners=False)
        return images

    def penultimate(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(self.body(self.prepare(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(images))


def build(config: dict) -> ToonNet:
    return ToonNet(config["widths"], config["feature_dim"], config["out_dim"], config["input_size"])


def asset_dir() -> Path:
    return Path(str(resources.files("editgan").joinpath(ASSET_DIR)))


@lru_cache(maxsize=4)
def load_measure_nets(directory: str | None = None) -> tuple[ToonNet, ToonNet, dict]:
    """(attribute net, identity net, config) in eval mode, from `directory` (default: the assets)."""
    root = Path(directory) if directory else asset_dir()
    config_path = root / CONFIG_NAME
    if not config_path.is_file():
        raise MissingWeightsError(f"{config_path} not found; retrain with `editgan train measures --out {root}`")
    config = json.loads(config_path.read_text())
    nets = []
    for name in ("attribute", "identity"):
        net = build(config[name])
        path = root / f"{name}.safetensors"
        if not path.is_file():
            raise MissingWeightsError(f"{path} not found; retrain with `editgan train measures --out {root}`")
        net.load_state_dict(load_file(str(path)))
        nets.append(net.eval())
    return nets[0], nets[1], config
