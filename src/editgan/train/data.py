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


def to_square_rgb(img: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square, resize with Lanczos, convert to RGB: uint8 [R, R, 3]."""
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if s != resolution:
        img = img.resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1


class ImageFileSource:
    """Images in a folder (recursive) or a zip archive, centre-cropped and resized on read."""

    def __init__(self, path: str | Path, resolution: int):
        self.path, self.resolution = Path(path), resolution
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
                return uint8_to_tensor(to_square_rgb(img, self.resolution))
        except (OSError, UnidentifiedImageError, ValueError, zipfile.BadZipFile):
            self.skipped.add(name)
            return None


def open_source(spec: str, resolution: int, count: int = 50_000, cache_dir: str | Path | None = None, progress=None):
    """A data source a domain plug-in registered under `spec` (e.g. 'toonfaces', built with `count`
    items, cached under `cache_dir`), else a folder or zip path of images."""
    if not Path(spec).exists() and spec in DATA_SOURCES:
        return DATA_SOURCES.get(spec)(resolution, count, cache_dir, progress)
    return ImageFileSource(spec, resolution)


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
