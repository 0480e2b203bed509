"""Image sources for training: a folder / zip of the user's images, or a source a domain plug-in
registers by name (`editgan.registry.DATA_SOURCES`, e.g. rendered toonfaces).

A source is indexable: `source[i]` -> float32 [3, R, R] in [-1, 1], or None when item i could not
be read (the trainer skips and counts it; one bad file never stops a run).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from editgan.errors import InputError
from editgan.registry import DATA_SOURCES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def fit_rgb(img: Image.Image, size: int | tuple[int, int]) -> np.ndarray:
    """Centre-crop to the aspect ratio of `size` (R, or (H, W)), resize with Lanczos, convert to RGB:
    uint8 [H, W, 3]."""
    h, w = (size, size) if isinstance(size, int) else size
    img = img.convert("RGB")
    iw, ih = img.size
    scale = min(iw / w, ih / h)  # the largest box of the target's aspect that fits
    cw, ch = round(w * scale), round(h * scale)
    left, top = (iw - cw) // 2, (ih - ch) // 2
    img = img.crop((left, top, left + cw, top + ch))
    if (cw, ch) != (w, h):
        img = img.resize((w, h), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1


class ImageFileSource:
    """Images in a folder (recursive) or a zip archive, centre-cropped to `size` (R, or (H, W) for a
    generator whose content is a crop of its canvas) and resized on read."""

    def __init__(self, path: str | Path, size: int | tuple[int, int]):
        self.path, self.size = Path(path), size
        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as zf:
                self.names = sorted(n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
            self._zip: zipfile.ZipFile | None = None
        elif self.path.is_dir():
            self.names = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            raise InputError(f"training data {self.path} is neither a folder nor a zip file")
        if not self.names:
            raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {self.path}")
        self.skipped: set[str] = set()

    def __len__(self) -> int:
        return len(self.names)

    def _read(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip.read(name)

    def __getitem__(self, index: int) -> torch.Tensor | None:
        name = self.names[index]
        try:
            with Image.open(io.BytesIO(self._read(name))) as img:
                return uint8_to_tensor(fit_rgb(img, self.size))
        except (OSError, UnidentifiedImageError, ValueError, zipfile.BadZipFile):
            self.skipped.add(name)
            return None


def open_source(spec: str, resolution: int, count: int = 50_000, cache_dir: str | Path | None = None, progress=None,
                size: tuple[int, int] | None = None):
    """A data source a domain plug-in registered under `spec` (e.g. 'toonfaces', built with `count`
    items, cached under `cache_dir`), else a folder or zip path of images at `resolution`, or at
    `size` (H, W) for a generator whose content is a crop of its canvas."""
    if not Path(spec).exists() and spec in DATA_SOURCES:
        return DATA_SOURCES.get(spec)(resolution, count, cache_dir, progress)
    return ImageFileSource(spec, size or resolution)


def draw_batch(source, indices: list[int], rng: torch.Generator) -> tuple[torch.Tensor, int]:
    """Stack source[i] for the given indices -> ([B, 3, R, R], replacements); an unreadable item
    (None) is replaced by another drawn from `rng`, and each replacement is counted."""
    images, replaced = [], 0
    for i in indices:
        img = source[i]
        while img is None:
            replaced += 1
            img = source[int(torch.randint(len(source), (1,), generator=rng))]
        images.append(img)
    return torch.stack(images), replaced
