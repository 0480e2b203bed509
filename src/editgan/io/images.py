"""Image conversion at the file edge: float NCHW in [-1, 1] <-> uint8 HWC, grids, PNG writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from editgan.io.atomic import atomic_path


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] float in [-1, 1] -> uint8 [N, H, W, C] (values outside are clipped)."""
    if images.ndim != 4:
        raise ValueError(f"expected [N, C, H, W], got {list(images.shape)}")
    x = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] or [H, W, C] -> float [N, C, H, W] in [-1, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    return torch.from_numpy(arr.astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C] mosaic."""
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write uint8 [H, W, C] or [H, W] to PNG atomically."""
    path = Path(path)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return path
