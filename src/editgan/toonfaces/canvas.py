"""A supersampled colour + label canvas addressed in face coordinates, and its downsampling.

The image spans [-1, 1] x [-1, 1] (x right, y down). Face coordinates are u = (x - head_x) /
head_scale, v = (y - head_y) / head_scale, so parts are drawn once in a canonical frame and the
head pose only changes the sampling grid. Parts are painted back to front on a grid `factor`
times finer than the output; `finish` box-filters colours and takes each output pixel's label by
majority of its factor x factor samples (ties go to the larger label index, the front-most part).

Only IEEE-exact arithmetic (+ - * / sqrt, comparisons) runs per pixel, so the same parameters
give the same bytes on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from editgan.errors import InputError

MIN_SIZE, MAX_SIZE = 64, 256


def supersample_factor(size: int) -> int:
    """Samples per output pixel along each axis: 2 at 128 and above, more for smaller images."""
    return max(2, -(-256 // size))


@dataclass(frozen=True)
class Region:
    """A rectangular crop of the canvas: numpy slices plus face coordinates u [1, w] and v [h, 1]."""

    rows: slice
    cols: slice
    u: np.ndarray
    v: np.ndarray


class Canvas:
    """Supersampled buffers: rgb float32 [n, n, 3] in [0, 255], labels int8 [n, n]."""

    def __init__(self, size: int, head_x: float, head_y: float, head_scale: float, num_labels: int) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
            raise InputError(f"toonface size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
        self.size = int(size)
        self.factor = supersample_factor(self.size)
        self.num_labels = num_labels
        n = self.size * self.factor
        x = (np.arange(n, dtype=np.float64) + 0.5) * (2.0 / n) - 1.0
        self.x = x.astype(np.float32)
        self.u = ((x - head_x) / head_scale).astype(np.float32)
        self.v = ((x - head_y) / head_scale).astype(np.float32)
        self.rgb = np.empty((n, n, 3), dtype=np.float32)
        self.labels = np.zeros((n, n), dtype=np.int8)

    def region(self, u0: float, u1: float, v0: float, v1: float) -> Region:
        """The crop whose samples have u in [u0, u1] and v in [v0, v1] (may be empty)."""
        c0, c1 = np.searchsorted(self.u, [u0, u1])
        r0, r1 = np.searchsorted(self.v, [v0, v1])
        return Region(slice(r0, r1), slice(c0, c1), self.u[None, c0:c1], self.v[r0:r1, None])

    def paint(self, region: Region, mask: np.ndarray, label: int, color: np.ndarray) -> None:
        """Paint `color` (broadcastable to [h, w, 3]) and `label` where `mask` [h, w] is true."""
        mask = np.broadcast_to(mask, (region.v.shape[0], region.u.shape[1]))
        np.copyto(self.rgb[region.rows, region.cols], color, where=mask[..., None])
        self.labels[region.rows, region.cols][mask] = label

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Downsample to (image uint8 [size, size, 3], labels int64 [size, size])."""
        f, s, k = self.factor, self.size, self.num_labels
        acc = np.zeros((s, s, 3), dtype=np.float32)
        for i in range(f):
            for j in range(f):
                acc += self.rgb[i::f, j::f]
        image = np.rint(np.clip(acc * np.float32(1.0 / (f * f)), 0.0, 255.0)).astype(np.uint8)

        blocks = self.labels.reshape(s, f, s, f).transpose(0, 2, 1, 3).reshape(s * s, f * f).astype(np.int64)
        labels = blocks[:, 0].copy()
        mixed = np.flatnonzero((blocks != blocks[:, :1]).any(axis=1))
        if mixed.size:
            idx = (np.arange(mixed.size)[:, None] * k + blocks[mixed]).ravel()
            counts = np.bincount(idx, minlength=mixed.size * k).reshape(mixed.size, k)
            labels[mixed] = np.argmax(counts * k + np.arange(k), axis=1)
        return image, labels.reshape(s, s)


def shade(base: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Colour field base [3] scaled by a shading field factor [h, w] (or [h, 1], [1, w]) -> [h, w, 3]."""
    return np.asarray(factor, dtype=np.float32)[..., None] * np.asarray(base, dtype=np.float32)


def mix(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Linear blend of colours a and b with weight t (scalar or field [h, w]) on b."""
    t = np.asarray(t, dtype=np.float32)
    if t.ndim:
        t = t[..., None]
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


def tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 and range [0, 0.5] (a texture primitive without sin)."""
    return np.abs(x - np.floor(x) - np.float32(0.5))


def bump(x: np.ndarray, width: float) -> np.ndarray:
    """Smooth rational bump 1 / (1 + (x / width)^2): 1 at x = 0, 0.5 at |x| = width."""
    r = x * np.float32(1.0 / width)
    return 1.0 / (1.0 + r * r)


def clamp01(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)
