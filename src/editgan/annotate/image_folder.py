"""Annotated images -> w+ for segmenter training: pair each image with its mask, check both before
any optimisation, then embed the images one at a time (`editgan.inversion.optimize.embed`, Sec. 3.2).

Layout: `images/<name>.<ext>` (any image format PIL reads) and `masks/<name>.png|.npy` (label
indices), as `editgan data toonfaces` writes them (`images/` + `labels/`). Images must already be
the generator's image size (its crop's, if it crops): a resized image would no longer line up with
its mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from editgan.errors import InputError
from editgan.io.images import load_image
from editgan.io.masks import MASK_SUFFIXES, read_mask
from editgan.labels import LabelScheme
from editgan.train.data import IMAGE_SUFFIXES


@dataclass
class Annotation:
    """One annotated image: its name (file stem), image file and label map int64 [H, W]."""

    name: str
    image: Path
    mask: np.ndarray


def read_annotations(image_dir: str | Path, mask_dir: str | Path, scheme: LabelScheme,
                     image_size: tuple[int, int], mask_size: tuple[int, int]) -> list[Annotation]:
    """Every image in image_dir (sorted by name) with its mask from mask_dir. InputError naming the
    file for: an image without a mask, an image that is not image_size (height, width) or unreadable,
    a mask of the wrong size or with labels outside `scheme`."""
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    for d, what in ((image_dir, "image"), (mask_dir, "mask")):
        if not d.is_dir():
            raise InputError(f"{what} directory not found: {d}")
    images = sorted(p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {image_dir}")
    stems = [p.stem for p in images]
    if len(set(stems)) != len(stems):
        raise InputError(f"{image_dir} holds several images with one name: "
                         f"{sorted({s for s in stems if stems.count(s) > 1})[:10]}")
    out = []
    for path in images:
        masks = [mask_dir / f"{path.stem}{s}" for s in MASK_SUFFIXES if (mask_dir / f"{path.stem}{s}").is_file()]
        if len(masks) != 1:
            raise InputError(f"image {path} needs exactly one mask {mask_dir}/{path.stem}.png or .npy, "
                             f"found {len(masks)}")
        _check_image_size(path, image_size)
        out.append(Annotation(path.stem, path, read_mask(masks[0], scheme, mask_size)))
    return out


def _check_image_size(path: Path, image_size: tuple[int, int]) -> None:
    try:
        with Image.open(path) as im:
            size = im.size
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path}: not an image file PIL can read ({err})") from None
    height, width = image_size
    if size != (width, height):
        raise InputError(f"image {path} is {size[0]}x{size[1]}; annotated images must be "
                         f"{width}x{height} (the generator's image size) to line up with their masks")


def embed_annotations(editor, annotations: list[Annotation], settings, *,
                      progress: Callable[[str, int], None] | None = None) -> tuple[torch.Tensor, list]:
    """Embed each annotated image with `editor.embed(settings=settings)` (EmbedSettings; the same seed
    each, so a rerun gives the same latents) -> (w+ [I, num_ws, w_dim], per image its pivotal Tuning
    or None when the settings do not tune), in the order given. progress(name, step) after every
    evaluation (embedding, then tuning)."""
    out, tunings = [], []
    for a in annotations:
        image = load_image(a.image, editor.generator.config.image_size)
        result = editor.embed(image, settings=settings,
                              progress=(lambda step, _losses, n=a.name: progress(n, step)) if progress else None)
        out.append(result.wplus[0].cpu())
        tunings.append(result.tunings[0] if result.tunings else None)
    return torch.stack(out), tunings
