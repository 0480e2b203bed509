"""Exact factorised inference of a `Segmenter` ("let linearity work", DESIGN.md).

Resampling is linear with weights summing to one, so W1 f(p) + b1 = sum_k resample(W1_k S_k)(p) + b1.
Each resolution's maps are projected to the M*H1 hidden units at their native resolution (all
members in one matmul), and only the projections are resampled: in row tiles for a full label
map, or at just the requested pixels (an edit region). For sparse pixels at a fine resolution it is
cheaper to resample the features first and project after; each resolution picks the cheaper of
the two, both exact. The hidden layers compute in the feature maps' dtype (bfloat16 maps halve the
bytes moved); logits and predictions are at least float32. `editgan.nn.segmenter_reference` holds
the literal definition (interpolate, concatenate, run each member), the tests' referee. The
prediction is the ensemble of the members (`ensemble`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from editgan.errors import InputError
from editgan.nn.resample import (accumulate_upsampled, axis_taps, gather_pixels, pixel_taps, resample_axis,
                                 taps_matrix)
from editgan.nn.segmenter_config import SegmenterConfig

TILE_ELEMENTS = 1 << 24  # target size of one [N, M*H1, rows, width] tile activation (64 MiB in float32)
DENSE_COLUMNS_MAX = 32  # maps this coarse resample columns by a [W, r] matmul (few FLOPs, one pass)


@dataclass
class Segmentation:
    """Ensemble output at the label map's pixels (or at the requested pixels, then H, W -> P).

    probs: [N, K, H, W] mean of member softmaxes; labels: int64 [N, H, W] argmax by the config's label_rule;
    uncertainty: [N, H, W] Jensen-Shannon divergence of the members, nats, in [0, log M].
    """

    probs: torch.Tensor
    labels: torch.Tensor
    uncertainty: torch.Tensor


def ensemble(logits: torch.Tensor, label_rule: str = "mean_probs") -> Segmentation:
    """Member logits [N, M, K, ...] -> mean softmax, labels, Jensen-Shannon uncertainty (zero for one
    member, which the display segmenter is: then only the softmax is computed). label_rule
    (`SegmenterConfig.label_rule`): labels are the argmax of the mean softmax ("mean_probs") or of
    the mean logits ("mean_logits", the official release's display); one member: the same."""
    if logits.shape[1] == 1:  # labels from the logits: the same argmax, and faster on a pixel-major view
        p = torch.softmax(logits[:, 0], dim=1)
        return Segmentation(p, logits[:, 0].argmax(1), p.new_zeros(p.shape[:1] + p.shape[2:]))
    logp = torch.log_softmax(logits, dim=2)
    p = logp.exp()
    mean = p.mean(1)
    member_entropy = -(p * logp).sum(2).mean(1)
    mean_entropy = -(mean * torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))).sum(1)
    labels = logits.mean(1).argmax(1) if label_rule == "mean_logits" else mean.argmax(1)
    return Segmentation(mean, labels, (mean_entropy - member_entropy).clamp_min(0))


def feature_columns(config: SegmenterConfig) -> list[tuple[int, int]]:
    """Column range [a, b) of each feature map in the concatenated input vector (and in w1)."""
    columns, start = [], 0
    for c, _ in config.feature_shapes:
        columns.append((start, start + c))
        start += c
    return columns


def gather_features(config: SegmenterConfig, feats: list[torch.Tensor], batch: torch.Tensor, ys: torch.Tensor,
                    xs: torch.Tensor) -> torch.Tensor:
    """Concatenated resampled feature vectors [P, C_in] at label-map pixels (batch, ys, xs), each
    int64 [P] (ys, xs relative to the label map, i.e. inside the crop): the segmenter's training input."""
    top, left = config.origin
    taps = {r: axis_taps(config.out_resolution, r, config.interpolation) for _, r in config.feature_shapes}
    parts = []
    for f in feats:
        t = taps[f.shape[-1]]
        parts.append(gather_pixels(f, t.take(ys + top), t.take(xs + left), batch))
    return torch.cat(parts, 1)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """x in float32 when it is in a lower precision (bfloat16, float16); float32/float64 unchanged."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class FactorisedInference:
    """Member logits and ensemble predictions of `seg` (eval mode), over a whole label map tile by
    tile or at chosen pixels; holds no parameters of its own."""

    def __init__(self, seg, interpolation: str | None = None):
        """interpolation: resample the feature maps this way instead of the config's (the release
        optimises edits on nearest-upsampled features and shows bilinear ones)."""
        self.seg = seg
        self.config = seg.config if interpolation in (None, seg.config.interpolation) else \
            dataclasses.replace(seg.config, interpolation=interpolation)
        self.columns = feature_columns(seg.config)
        self.groups: dict[int, list[int]] = {}  # the maps grouped by resolution
        for i, (_, r) in enumerate(seg.config.feature_shapes):
            self.groups.setdefault(r, []).append(i)

    def check_features(self, feats: list[torch.Tensor]) -> None:
        shapes = self.config.feature_shapes
        got = [(f.shape[1], f.shape[-1]) if f.ndim == 4 and f.shape[-1] == f.shape[-2] else tuple(f.shape)
               for f in feats]
        if got != [tuple(s) for s in shapes]:
            raise InputError(f"segmenter expects {len(shapes)} feature maps with (channels, resolution) "
                             f"{shapes}, got {got}")
        if len({f.shape[0] for f in feats}) != 1:
            raise InputError("feature maps have different batch sizes")

    def pixel_coords(self, pixels: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """pixels: bool [H, W] mask or int64 flat indices [P] (shared) or [N, P] (per sample) into
        the label map -> (batch, canvas rows, canvas cols) each [N*P], and P."""
        h, w = self.config.out_size
        if pixels.dtype == torch.bool:
            if tuple(pixels.shape) != (h, w):
                raise InputError(f"pixel mask must be [{h}, {w}], got {list(pixels.shape)}")
            pixels = pixels.flatten().nonzero().flatten()
        if pixels.dtype not in (torch.int64, torch.int32) or pixels.ndim not in (1, 2):
            raise InputError("pixels must be a bool mask [H, W] or integer indices [P] or [N, P]")
        pixels = pixels.long()
        if pixels.ndim == 2 and pixels.shape[0] != n:
            raise InputError(f"per-sample pixel indices must be [{n}, P], got {list(pixels.shape)}")
        if pixels.numel() and (pixels.min() < 0 or pixels.max() >= h * w):
            raise InputError(f"pixel indices must lie in [0, {h * w})")
        flat = pixels.expand(n, -1) if pixels.ndim == 1 else pixels
        p = flat.shape[1]
        top, left = self.config.origin
        batch = torch.arange(n).repeat_interleave(p)
        flat = flat.reshape(-1)
        return batch, flat // w + top, flat % w + left, p

    def _group_weight(self, maps: list[int], dtype: torch.dtype) -> torch.Tensor:
        """w1 columns of `maps` as [M*H1, C_group] in `dtype` (a view when the columns are contiguous
        and dtype is w1's)."""
        m, h1 = self.seg.w1.shape[:2]
        cols = [self.columns[i] for i in maps]
        if all(cols[j][1] == cols[j + 1][0] for j in range(len(cols) - 1)):
            return self.seg.w1[:, :, cols[0][0]:cols[-1][1]].reshape(m * h1, -1).to(dtype)
        return torch.cat([self.seg.w1[:, :, a:b] for a, b in cols], dim=2).reshape(m * h1, -1).to(dtype)

    def _project(self, maps: list[int], feats: list[torch.Tensor], rows: slice) -> torch.Tensor:
        """Group `maps` on source rows `rows` projected by their w1 columns -> [N, R, r, M*H1]
        (pixel-major, so that resampling moves whole M*H1 vectors)."""
        slab = torch.cat([feats[i][:, :, rows] for i in maps], 1) if len(maps) > 1 else feats[maps[0]][:, :, rows]
        n, _, height, r = slab.shape
        weight = self._group_weight(maps, slab.dtype)
        return torch.matmul(slab.flatten(2).transpose(1, 2), weight.T).view(n, height, r, -1)

    def _hidden_rows(self, feats: list[torch.Tensor], ys: torch.Tensor, xs: torch.Tensor,
                     projected: dict[int, torch.Tensor]) -> torch.Tensor:
        """Pre-activations z1 [N, T, W, M*H1] (no bias) on the canvas grid rows ys [T] x cols xs [W]
        (both increasing). Groups in `projected` (coarse maps projected once per call) are only
        resampled; the others are projected on just the source rows this tile reads."""
        out, mode = self.config.out_resolution, self.config.interpolation
        dense, coarse, fine = [], [], []
        for r, maps in self.groups.items():
            taps = axis_taps(out, r, mode)
            rows = taps.take(ys)
            if r in projected:
                a, proj = 0, projected[r]
            else:
                a = int(rows.i0[0])
                b = int(rows.i1[-1] if rows.w[-1] > 0 else rows.i0[-1]) + 1
                proj = self._project(maps, feats, slice(a, b))
            part = resample_axis(proj, 1, rows, offset=a)  # [N, T, r, M*H1]
            if r <= DENSE_COLUMNS_MAX:  # coarse: columns by a small matmul, all coarse maps in one
                dense.append(taps_matrix(taps.take(xs), r, part.dtype))
                coarse.append(part)
            else:
                fine.append((r, taps, part))
        z1 = None
        if coarse:  # [W, sum r] @ [N, T, sum r, M*H1]: one pass over the tile instead of one per map
            z1 = torch.matmul(torch.cat(dense, 1), torch.cat(coarse, 2) if len(coarse) > 1 else coarse[0])
        for r, taps, part in fine:
            if out % r == 0 and len(xs) == out:  # whole canvas width: strided in-place phases
                if z1 is None:
                    z1 = part.new_zeros(part.shape[0], part.shape[1], out, part.shape[3])
                accumulate_upsampled(z1, part, 2, mode)
            else:  # a column crop or a non-integer ratio: gather the two taps
                part = resample_axis(part, 2, taps.take(xs))
                z1 = part.clone() if z1 is None else z1.add_(part)
        return z1

    def _hidden_pixels(self, feats: list[torch.Tensor], batch: torch.Tensor, ys: torch.Tensor,
                       xs: torch.Tensor) -> torch.Tensor:
        """Pre-activations z1 [P, M*H1] (no bias) at canvas pixels (batch, ys, xs), each [P].

        Maps with at most half as many source pixels as requested pixels are projected whole (the
        sparse product and its gradient cost more per value than a dense one), and the
        projections of all of them are interpolated at once by one sparse [P, sum N*r*r] matrix of
        bilinear taps (its backward is one sparse product too, no dense scatter per map). Finer maps
        are interpolated first (their few channels) and projected after."""
        out, mode = self.config.out_resolution, self.config.interpolation
        n, p = feats[0].shape[0], ys.numel()
        z1, columns, weights, projections, offset = None, [], [], [], 0
        for r, maps in self.groups.items():
            taps = axis_taps(out, r, mode)
            ty, tx = taps.take(ys), taps.take(xs)
            if 2 * n * r * r <= p:
                cols, w = pixel_taps(ty, tx, batch, r)
                columns.append(cols + offset)
                weights.append(w)
                projections.append(self._project(maps, feats, slice(None)).reshape(n * r * r, -1))
                offset += n * r * r
            else:
                vec = torch.cat([gather_pixels(feats[i], ty, tx, batch) for i in maps], 1)
                part = vec @ self._group_weight(maps, vec.dtype).T
                z1 = part if z1 is None else z1 + part
        if projections:
            # the sparse product in at least float32: torch's CPU sparse kernels have no fast bfloat16
            # path (measured 2.7x slower than float32 at 3500 pixels)
            dense = at_least_float32(torch.cat(projections))
            rows = torch.arange(p).repeat_interleave(4 * len(columns))
            interpolate = torch.sparse_coo_tensor(
                torch.stack([rows, torch.cat(columns, 1).flatten()]).to(dense.device),
                torch.cat(weights, 1).flatten().to(dense.device, dense.dtype), (p, offset), check_invariants=False)
            part = torch.sparse.mm(interpolate, dense).to(projections[0].dtype)
            z1 = part if z1 is None else z1 + part
        return z1

    def _tiles(self, feats: list[torch.Tensor], rows_per_tile: int | None = None):
        """Yield (row slice of the label map, member logits [N, M, K, T, W]) tile by tile."""
        top, left = self.config.origin
        h, w = self.config.out_size
        m, h1 = self.seg.w1.shape[:2]
        n = feats[0].shape[0]
        rows_per_tile = rows_per_tile or max(1, TILE_ELEMENTS // (n * m * h1 * w))
        projected = {r: self._project(maps, feats, slice(None)) for r, maps in self.groups.items()
                     if r * r <= rows_per_tile * w}  # no larger than a tile: project once
        xs = torch.arange(left, left + w)
        for y0 in range(0, h, rows_per_tile):
            y1 = min(h, y0 + rows_per_tile)
            z1 = self._hidden_rows(feats, torch.arange(top + y0, top + y1), xs, projected)  # [N, T, W, M*H1]
            z1 = z1.add_(self.seg.b1.flatten().to(z1.dtype))
            logits = self.seg.tail_pixel_major(z1.view(-1, m * h1))  # [M, N*T*W, K]
            logits = logits.view(m, n, y1 - y0, w, -1).permute(1, 0, 4, 2, 3)
            yield slice(y0, y1), at_least_float32(logits)

    def member_logits(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                      rows_per_tile: int | None = None) -> torch.Tensor:
        """Factorised member logits: [N, M, K, H, W] over the label map, or [N, M, K, P] at `pixels`
        (bool mask [H, W], or flat indices [P] / [N, P] into the label map), at least float32. Differentiable.
        rows_per_tile: label-map rows per tile (default: about TILE_ELEMENTS hidden values)."""
        self.check_features(feats)
        if self.seg.training:
            raise InputError("member_logits runs in eval mode (BatchNorm folded); call .eval() first")
        n, m = feats[0].shape[0], self.seg.num_members
        if pixels is not None:
            batch, ys, xs, p = self.pixel_coords(pixels, n)
            z1 = self._hidden_pixels(feats, batch, ys, xs)  # [N*P, M*H1]
            z1 = z1 + self.seg.b1.flatten().to(z1.dtype)
            logits = self.seg.tail_pixel_major(z1)  # [M, N*P, K]
            return at_least_float32(logits.view(m, n, p, -1).permute(1, 0, 3, 2))
        return torch.cat([logits for _, logits in self._tiles(feats, rows_per_tile)], dim=3)

    def predict(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                rows_per_tile: int | None = None) -> Segmentation:
        """Ensemble prediction (see `Segmentation`), computed tile by tile so that member logits
        of the whole label map never coexist in memory."""
        if pixels is not None:
            return ensemble(self.member_logits(feats, pixels), self.config.label_rule)
        self.check_features(feats)
        if self.seg.training:
            raise InputError("predict runs in eval mode; call .eval() first")
        n, (h, w), k = feats[0].shape[0], self.config.out_size, self.config.num_classes
        dtype = torch.promote_types(feats[0].dtype, torch.float32)
        probs = feats[0].new_empty(n, k, h, w, dtype=dtype)
        unc = feats[0].new_empty(n, h, w, dtype=dtype)
        labels = torch.empty(n, h, w, dtype=torch.int64, device=feats[0].device)
        for rows, logits in self._tiles(feats, rows_per_tile):
            seg = ensemble(logits, self.config.label_rule)
            probs[:, :, rows], unc[:, rows], labels[:, rows] = seg.probs, seg.uncertainty, seg.labels
        return Segmentation(probs, labels, unc)
