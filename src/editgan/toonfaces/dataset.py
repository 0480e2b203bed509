"""Toonface train/test splits and a torch Dataset that renders faces on the fly.

Splits are fixed seed ranges, so "train image 5" is the same face everywhere:
- train: seeds 0 .. 999_999 (index i -> seed i)
- test:  seeds 10_000_000 .. 10_999_999 (index i -> seed 10_000_000 + i)
Nothing trained on the train split ever sees a test seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from editgan.errors import InputError
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.render import render

SPLITS = {"train": range(0, 1_000_000), "test": range(10_000_000, 11_000_000)}


def split_seed(split: str, index: int) -> int:
    """Seed of image `index` of `split`; raises InputError for unknown splits or indices."""
    if split not in SPLITS:
        raise InputError(f"unknown toonfaces split {split!r}; known: {', '.join(SPLITS)}")
    seeds = SPLITS[split]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(seeds):
        raise InputError(f"toonfaces {split} index must be an integer in [0, {len(seeds)}), got {index!r}")
    return seeds[int(index)]


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] (or [N, H, W, 3]) -> float32 [3, H, W] (or [N, 3, H, W]) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(image)).float().div_(127.5).sub_(1.0)
    return t.movedim(-1, -3)


def render_split(split: str, n: int, size: int, start: int = 0) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Faces start..start+n-1 of `split` -> (seeds, images uint8 [n, size, size, 3], labels int64 [n, size, size])."""
    seeds = [split_seed(split, start + i) for i in range(n)]
    pairs = [render(sample_params(s), size) for s in seeds]
    return seeds, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]).astype(np.int64)


class ToonFacesDataset(Dataset):
    """Item i of a split: {"image": float32 [3, S, S] in [-1, 1], "labels": int64 [S, S], "seed": int}."""

    def __init__(self, split: str = "train", size: int = 128, length: int | None = None) -> None:
        split_seed(split, 0)
        self.split, self.size = split, size
        self.length = len(SPLITS[split]) if length is None else length
        if not 0 < self.length <= len(SPLITS[split]):
            raise InputError(f"length must be in [1, {len(SPLITS[split])}] for split {split!r}, got {length}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        seed = split_seed(self.split, index)
        image, labels = render(sample_params(seed), self.size)
        return {"image": image_to_tensor(image), "labels": torch.from_numpy(labels), "seed": seed}
