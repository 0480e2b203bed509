"""Separable 2-tap resampling of feature maps at chosen output pixels.

`F.interpolate(x, size=out, mode=...)` (bilinear with align_corners=False, or nearest) is, per
axis, a weighted sum of two source indices with weights that sum to one. This module computes
those taps explicitly so that callers can resample only some output rows (a tile) or only some
output pixels (an edit region) and get exactly what the full interpolation would give there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from editgan.errors import ConfigError

MODES = ("bilinear", "nearest")


@dataclass(frozen=True)
class AxisTaps:
    """Output index o reads (1 - w[o]) * src[i0[o]] + w[o] * src[i1[o]]; all tensors [out]."""

    i0: torch.Tensor  # int64, in [0, in_size)
    i1: torch.Tensor  # int64, in [0, in_size), i1 >= i0
    w: torch.Tensor   # float64, in [0, 1)

    @property
    def single(self) -> bool:
        """True when every output reads one source index (nearest, or bilinear at scale 1)."""
        return bool((self.w == 0).all())

    def take(self, idx: torch.Tensor | slice) -> "AxisTaps":
        return AxisTaps(self.i0[idx], self.i1[idx], self.w[idx])


def axis_taps(out_size: int, in_size: int, mode: str) -> AxisTaps:
    """Taps of PyTorch's `interpolate(size=out_size)` along one axis of length in_size.

    bilinear (align_corners=False): src = max((o + 0.5) * in/out - 0.5, 0), i0 = floor(src),
    i1 = min(i0 + 1, in - 1), w = src - i0. nearest: i0 = i1 = floor(o * in/out), w = 0.
    This is also what `nn.Upsample(scale_factor=out/in)` computes when out/in is a power of two.

    Examples:
        >>> taps = axis_taps(4, 2, "bilinear")  # 2 -> 4 samples
        >>> taps.i0.tolist(), taps.i1.tolist(), taps.w.tolist()
        ([0, 0, 0, 1], [1, 1, 1, 1], [0.0, 0.25, 0.75, 0.25])
        >>> axis_taps(4, 2, "nearest").single
        True
    """
    if mode not in MODES:
        raise ConfigError(f"interpolation mode must be one of {MODES}, got {mode!r}")
    scale = in_size / out_size
    o = torch.arange(out_size, dtype=torch.float64)
    if mode == "nearest":
        i0 = torch.clamp(torch.floor(o * scale).long(), max=in_size - 1)
        return AxisTaps(i0, i0, torch.zeros(out_size, dtype=torch.float64))
    src = torch.clamp((o + 0.5) * scale - 0.5, min=0.0)
    i0 = torch.clamp(torch.floor(src).long(), max=in_size - 1)
    i1 = torch.clamp(i0 + 1, max=in_size - 1)
    return AxisTaps(i0, i1, src - i0.double())


def resample_axis(x: torch.Tensor, dim: int, taps: AxisTaps, offset: int = 0) -> torch.Tensor:
    """Resample `x` along `dim` with `taps` whose source indices are shifted by -offset
    (so `x` may hold only the source slab starting at `offset`). Output size along dim: len(taps).

    Examples:
        >>> import torch.nn.functional as F
        >>> x = torch.tensor([[0.0, 4.0]])
        >>> resample_axis(x, 1, axis_taps(4, 2, "bilinear")).tolist()
        [[0.0, 1.0, 3.0, 4.0]]
        >>> F.interpolate(x[None], size=4, mode="linear", align_corners=False)[0].tolist()  # the same
        [[0.0, 1.0, 3.0, 4.0]]
    """
    idx = taps.i0 - offset
    if taps.single:
        start = int(idx[0])
        if torch.equal(idx, torch.arange(start, start + len(idx))):
            return x.narrow(dim, start, len(idx))  # identity on a window: a view, no copy
        return x.index_select(dim, idx)
    a = x.index_select(dim, idx)
    shape = [1] * x.ndim
    shape[dim] = -1
    w = taps.w.to(x.dtype).view(shape)
    return torch.lerp(a, x.index_select(dim, taps.i1 - offset), w)


def gather_pixels(x: torch.Tensor, ty: AxisTaps, tx: AxisTaps, batch: torch.Tensor | None = None) -> torch.Tensor:
    """Interpolated values of x [N, C, r, r] at P output pixels -> [P, C] (pixel-major).

    ty, tx: per-pixel taps (length P) along rows and columns; batch: int64 [P] sample index of
    each pixel (default: all from sample 0, which requires N == 1).
    """
    if batch is None:
        if x.shape[0] != 1:
            raise ValueError("gather_pixels needs `batch` when N > 1")
        batch = torch.zeros_like(ty.i0)
    xl = x.permute(0, 2, 3, 1)  # [N, r, r, C] view: advanced indexing then yields [P, C]
    wy = ty.w.to(x.dtype)[:, None]
    wx = tx.w.to(x.dtype)[:, None]
    top = xl[batch, ty.i0, tx.i0]
    if not tx.single:
        top = torch.lerp(top, xl[batch, ty.i0, tx.i1], wx)
    if ty.single:
        return top
    bottom = xl[batch, ty.i1, tx.i0]
    if not tx.single:
        bottom = torch.lerp(bottom, xl[batch, ty.i1, tx.i1], wx)
    return torch.lerp(top, bottom, wy)



def pixel_taps(ty: AxisTaps, tx: AxisTaps, batch: torch.Tensor, in_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The bilinear taps of P output pixels as sparse-matrix entries: (columns int64 [P, 4], weights
    float64 [P, 4]) so that the interpolated value of pixel p is sum_k weights[p, k] *
    src[columns[p, k]], src being x [N, C, r, r] flattened pixel-major to `[N*r*r, C]` (column index
    `b*r*r + y*r + x`). Repeated columns (clamped edges, nearest) add up, as a sparse matrix's do."""
    base = batch * (in_size * in_size)
    cols = torch.stack([base + ty.i0 * in_size + tx.i0, base + ty.i0 * in_size + tx.i1,
                        base + ty.i1 * in_size + tx.i0, base + ty.i1 * in_size + tx.i1], 1)
    wy, wx = ty.w, tx.w
    weights = torch.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], 1)
    return cols, weights


def taps_matrix(taps: AxisTaps, in_size: int, dtype: torch.dtype) -> torch.Tensor:
    """The taps as a dense [out, in_size] matrix A: resampling an axis is A @ x along it.

    Examples:
        >>> taps_matrix(axis_taps(4, 2, "bilinear"), 2, torch.float32).tolist()
        [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    out = len(taps.i0)
    a = torch.zeros(out, in_size, dtype=torch.float64)
    rows = torch.arange(out)
    a.index_put_((rows, taps.i0), 1 - taps.w, accumulate=True)
    a.index_put_((rows, taps.i1), taps.w, accumulate=True)
    return a.to(dtype)


def accumulate_upsampled(acc: torch.Tensor, x: torch.Tensor, dim: int, mode: str) -> None:
    """acc += x resampled along `dim` to acc's length s * n (s integer), in place, exactly as
    `axis_taps(s * n, n, mode)`: output o = s*q + phi reads source q + d_phi and q + d_phi + 1 with
    a weight fixed per phase phi, so each phase is two scaled adds into a strided view of acc --
    no gathers, no full-size temporaries. Edges replicate, which is the taps' clamping.
    acc must be contiguous; its other dimensions equal x's."""
    n = x.shape[dim]
    s = acc.shape[dim] // n
    if s * n != acc.shape[dim]:
        raise ValueError(f"accumulate_upsampled needs an integer factor, got {n} -> {acc.shape[dim]}")
    phases = acc.unflatten(dim, (n, s))
    if mode == "nearest":
        phases.add_(x.unsqueeze(dim + 1))
        return
    for phi in range(s):
        d = (phi + 0.5) / s - 0.5
        d0 = -1 if d < 0 else 0
        w = d - d0
        target = phases.select(dim + 1, phi)
        _add_shifted(target, x, dim, d0, 1 - w)
        if w:
            _add_shifted(target, x, dim, d0 + 1, w)


def _add_shifted(target: torch.Tensor, x: torch.Tensor, dim: int, shift: int, alpha: float) -> None:
    """target[q] += alpha * x[clamp(q + shift, 0, n - 1)] along `dim`, for shift in {-1, 0, 1},
    in place and without copying x (the clamped edge is one extra narrow add)."""
    n = x.shape[dim]
    if shift == 0 or n == 1:
        target.add_(x, alpha=alpha)
    elif shift < 0:  # q >= 1 reads q - 1; q = 0 reads 0
        target.narrow(dim, 1, n - 1).add_(x.narrow(dim, 0, n - 1), alpha=alpha)
        target.narrow(dim, 0, 1).add_(x.narrow(dim, 0, 1), alpha=alpha)
    else:  # q <= n - 2 reads q + 1; q = n - 1 reads n - 1
        target.narrow(dim, 0, n - 1).add_(x.narrow(dim, 1, n - 1), alpha=alpha)
        target.narrow(dim, n - 1, 1).add_(x.narrow(dim, n - 1, 1), alpha=alpha)
