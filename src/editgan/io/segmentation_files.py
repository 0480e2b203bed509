"""Writing a segmentation next to its image: label indices, colourised mask, 50% overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from editgan.io.images import save_png
from editgan.labels import LabelScheme


def blend(image: np.ndarray, mask_rgb: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 [H, W, 3] image and colourised mask uint8 [h, w, 3] (nearest-resized to H x W) ->
    uint8 [H, W, 3] = round((1 - alpha) * image + alpha * mask)."""
    h, w = image.shape[:2]
    if mask_rgb.shape[:2] != (h, w):
        mask_rgb = np.asarray(Image.fromarray(mask_rgb).resize((w, h), Image.NEAREST))
    mixed = (1 - alpha) * image.astype(np.float64) + alpha * mask_rgb.astype(np.float64)
    return mixed.round().clip(0, 255).astype(np.uint8)


def write_segmentation(out: str | Path, stem: str, image: np.ndarray, labels: np.ndarray,
                       scheme: LabelScheme) -> list[Path]:
    """Write `<stem>.labels.png` (mode L, label indices, labels int [h, w] < 256 classes),
    `<stem>.mask.png` (scheme colours) and `<stem>.overlay.png` (image uint8 [H, W, 3] blended 50%
    with the mask) into `out`; returns the three paths."""
    out = Path(out)
    colour = scheme.colorize(labels)
    return [save_png(out / f"{stem}.labels.png", np.asarray(labels, dtype=np.uint8)),
            save_png(out / f"{stem}.mask.png", colour),
            save_png(out / f"{stem}.overlay.png", blend(image, colour))]
