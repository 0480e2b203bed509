"""Segmentation branch: an ensemble of DatasetGAN pixel MLPs on the generator's feature maps.

Each member m maps the concatenated, resampled feature vector f(p) [C_in] of a pixel p to class
logits:  Linear(C_in, H1) -> ReLU -> BatchNorm1d -> Linear(H1, H2) -> ReLU -> BatchNorm1d ->
Linear(H2, K). The prediction is the mean of the members' softmax; the per-pixel uncertainty is
the ensemble's Jensen-Shannon divergence H(mean_m p_m) - mean_m H(p_m) in nats (0 when members
agree, at most log M). DatasetGAN ranks samples with the same difference but takes the entropy of
the mean *logits*; we use the mean probabilities, which makes it a true mutual information.

Exact factorised inference ("let linearity work", DESIGN.md): resampling is linear with weights
summing to one, so W1 f(p) + b1 = sum_k resample(W1_k S_k)(p) + b1. Each resolution's maps are
projected to the M*H1 hidden units at their native resolution (all members in one matmul), and
only the projections are resampled: in row tiles for a full label map, or at just the requested
pixels (an edit region). For sparse pixels at a fine resolution it is cheaper to resample the
features first and project after; each resolution picks the cheaper of the two, both exact.
`forward_naive` is the literal definition (interpolate, concatenate, run each member) and is the
referee in the tests. In eval mode both BatchNorms fold into the following Linear.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn.resample import (accumulate_upsampled, axis_taps, gather_pixels, pixel_taps, resample_axis,
                                 taps_matrix)
from editgan.nn.segmenter_config import SegmenterConfig

BN_MOMENTUM = 0.1  # torch.nn.BatchNorm1d's default, which DatasetGAN trained with
TILE_ELEMENTS = 1 << 24  # target size of one [N, M*H1, rows, width] tile activation (64 MiB in float32)
DENSE_COLUMNS_MAX = 32  # maps this coarse resample columns by a [W, r] matmul (few FLOPs, one pass)


@dataclass
class Segmentation:
    """Ensemble output at the label map's pixels (or at the requested pixels, then H, W -> P).

    probs: [N, K, H, W] mean of member softmaxes; labels: int64 [N, H, W] argmax;
    uncertainty: [N, H, W] Jensen-Shannon divergence of the members, nats, in [0, log M].
    """

    probs: torch.Tensor
    labels: torch.Tensor
    uncertainty: torch.Tensor


class Segmenter(nn.Module):
    """M pixel MLPs with stacked weights: w1 [M, H1, C_in], w2 [M, H2, H1], w3 [M, K, H2]."""

    def __init__(self, config: SegmenterConfig, seeds: list[int] | None = None):
        super().__init__()
        self.config = config
        m, (h1, h2), k, cin = config.num_members, config.hidden, config.num_classes, config.in_features
        self.w1, self.b1 = nn.Parameter(torch.empty(m, h1, cin)), nn.Parameter(torch.empty(m, h1))
        self.w2, self.b2 = nn.Parameter(torch.empty(m, h2, h1)), nn.Parameter(torch.empty(m, h2))
        self.w3, self.b3 = nn.Parameter(torch.empty(m, k, h2)), nn.Parameter(torch.empty(m, k))
        for i, h in ((1, h1), (2, h2)):
            setattr(self, f"bn{i}_weight", nn.Parameter(torch.ones(m, h)))
            setattr(self, f"bn{i}_bias", nn.Parameter(torch.zeros(m, h)))
            self.register_buffer(f"bn{i}_mean", torch.zeros(m, h))
            self.register_buffer(f"bn{i}_var", torch.ones(m, h))
            self.register_buffer(f"bn{i}_count", torch.zeros(m, dtype=torch.long))
        self.reset_parameters(seeds if seeds is not None else list(range(m)))
        # Column range of each feature map in w1, and the maps grouped by resolution.
        offsets, start = [], 0
        for c, _ in config.feature_shapes:
            offsets.append((start, start + c))
            start += c
        self._columns = offsets
        self._groups: dict[int, list[int]] = {}
        for i, (_, r) in enumerate(config.feature_shapes):
            self._groups.setdefault(r, []).append(i)

    @property
    def num_members(self) -> int:
        return self.config.num_members

    @torch.no_grad()
    def reset_parameters(self, seeds: list[int]) -> None:
        """DatasetGAN's init, member m from its own seed: Linear weights N(0, 0.02), biases 0,
        BatchNorm weight 1, bias 0, running statistics reset."""
        if len(seeds) != self.num_members:
            raise ConfigError(f"need one seed per member ({self.num_members}), got {len(seeds)}")
        for m, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for w in (self.w1, self.w2, self.w3):
                w[m].copy_(torch.randn(w.shape[1:], generator=gen) * 0.02)
        for name, value in (("b1", 0), ("b2", 0), ("b3", 0), ("bn1_weight", 1), ("bn1_bias", 0),
                            ("bn2_weight", 1), ("bn2_bias", 0), ("bn1_mean", 0), ("bn1_var", 1),
                            ("bn2_mean", 0), ("bn2_var", 1), ("bn1_count", 0), ("bn2_count", 0)):
            getattr(self, name).fill_(value)

    # ------------------------------------------------------------------ MLP after the first layer
    def _bn_affine(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode BatchNorm i as y = a * x + c; a, c [M, H_i]."""
        a = getattr(self, f"bn{i}_weight") * torch.rsqrt(getattr(self, f"bn{i}_var") + self.config.bn_eps)
        return a, getattr(self, f"bn{i}_bias") - getattr(self, f"bn{i}_mean") * a

    def _folded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w2', b2', w3', b3') with both eval-mode BatchNorms folded into the next Linear."""
        a1, c1 = self._bn_affine(1)
        a2, c2 = self._bn_affine(2)
        w2 = self.w2 * a1[:, None, :]
        b2 = self.b2 + torch.einsum("mij,mj->mi", self.w2, c1)
        w3 = self.w3 * a2[:, None, :]
        b3 = self.b3 + torch.einsum("mij,mj->mi", self.w3, c2)
        return w2, b2, w3, b3

    def _batch_norm_train(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Training-mode BatchNorm1d per member over pixels: x [M, H, L]; updates running stats."""
        mean = x.mean(-1)
        var = x.var(-1, unbiased=False)
        with torch.no_grad():
            n = x.shape[-1]
            unbiased = var * (n / max(n - 1, 1))
            getattr(self, f"bn{i}_mean").lerp_(mean.detach(), BN_MOMENTUM)
            getattr(self, f"bn{i}_var").lerp_(unbiased.detach(), BN_MOMENTUM)
            getattr(self, f"bn{i}_count").add_(1)
        w, b = getattr(self, f"bn{i}_weight"), getattr(self, f"bn{i}_bias")
        return (x - mean[..., None]) * torch.rsqrt(var[..., None] + self.config.bn_eps) * w[..., None] + b[..., None]

    def _tail(self, z1: torch.Tensor) -> torch.Tensor:
        """First-layer pre-activations z1 [..., M, H1, L] (bias included) -> logits [..., M, K, L].
        Training mode needs z1 [M, H1, L] (BatchNorm statistics over the L pixels)."""
        if self.training:
            if z1.ndim != 3:
                raise InputError("training-mode segmenter takes pre-activations [M, H1, L]")
            h = self._batch_norm_train(F.relu(z1), 1)
            h = self._batch_norm_train(F.relu(torch.matmul(self.w2, h) + self.b2[..., None]), 2)
            return torch.matmul(self.w3, h) + self.b3[..., None]
        w2, b2, w3, b3 = self._folded()
        h = F.relu(torch.matmul(w2, F.relu(z1)) + b2[..., None])
        return torch.matmul(w3, h) + b3[..., None]

    def logits_from_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated feature vectors x [M, B, C_in] (member m sees its own B pixels) ->
        logits [M, K, B]. The training path; BatchNorm follows `self.training`."""
        z1 = torch.matmul(self.w1, x.transpose(1, 2)) + self.b1[..., None]
        return self._tail(z1)

    # ------------------------------------------------------------------ inputs
    def _check_features(self, feats: list[torch.Tensor]) -> None:
        shapes = self.config.feature_shapes
        got = [(f.shape[1], f.shape[-1]) if f.ndim == 4 and f.shape[-1] == f.shape[-2] else tuple(f.shape)
               for f in feats]
        if got != [tuple(s) for s in shapes]:
            raise InputError(f"segmenter expects {len(shapes)} feature maps with (channels, resolution) "
                             f"{shapes}, got {got}")
        if len({f.shape[0] for f in feats}) != 1:
            raise InputError("feature maps have different batch sizes")

    def _pixel_coords(self, pixels: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
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

    # ------------------------------------------------------------------ first layer, factorised
    def _group_weight(self, maps: list[int]) -> torch.Tensor:
        """w1 columns of `maps` as [M*H1, C_group] (a view when the columns are contiguous)."""
        m, h1 = self.w1.shape[:2]
        cols = [self._columns[i] for i in maps]
        if all(cols[j][1] == cols[j + 1][0] for j in range(len(cols) - 1)):
            return self.w1[:, :, cols[0][0]:cols[-1][1]].reshape(m * h1, -1)
        return torch.cat([self.w1[:, :, a:b] for a, b in cols], dim=2).reshape(m * h1, -1)

    def _project(self, maps: list[int], feats: list[torch.Tensor], rows: slice) -> torch.Tensor:
        """Group `maps` on source rows `rows` projected by their w1 columns -> [N, R, r, M*H1]
        (pixel-major, so that resampling moves whole M*H1 vectors)."""
        slab = torch.cat([feats[i][:, :, rows] for i in maps], 1) if len(maps) > 1 else feats[maps[0]][:, :, rows]
        n, _, height, r = slab.shape
        return torch.matmul(slab.flatten(2).transpose(1, 2), self._group_weight(maps).T).view(n, height, r, -1)

    def _hidden_rows(self, feats: list[torch.Tensor], ys: torch.Tensor, xs: torch.Tensor,
                     projected: dict[int, torch.Tensor]) -> torch.Tensor:
        """Pre-activations z1 [N, T, W, M*H1] (no bias) on the canvas grid rows ys [T] x cols xs [W]
        (both increasing). Groups in `projected` (coarse maps projected once per call) are only
        resampled; the others are projected on just the source rows this tile reads."""
        out, mode = self.config.out_resolution, self.config.interpolation
        z1 = None
        for r, maps in self._groups.items():
            taps = axis_taps(out, r, mode)
            rows = taps.take(ys)
            if r in projected:
                a, proj = 0, projected[r]
            else:
                a = int(rows.i0[0])
                b = int(rows.i1[-1] if rows.w[-1] > 0 else rows.i0[-1]) + 1
                proj = self._project(maps, feats, slice(a, b))
            part = resample_axis(proj, 1, rows, offset=a)  # [N, T, r, M*H1]
            cols = taps.take(xs)
            if r <= DENSE_COLUMNS_MAX:  # coarse: columns by a small matmul, accumulated in place
                dense = taps_matrix(cols, r, part.dtype)
                if z1 is None:
                    z1 = torch.matmul(dense, part)
                else:
                    nt = part.shape[0] * part.shape[1]
                    z1.view(nt, len(xs), -1).baddbmm_(dense.expand(nt, -1, -1), part.reshape(nt, r, -1))
            elif out % r == 0 and len(xs) == out:  # whole canvas width: strided in-place phases
                if z1 is None:
                    z1 = part.new_zeros(part.shape[0], part.shape[1], out, part.shape[3])
                accumulate_upsampled(z1, part, 2, mode)
            else:  # a column crop or a non-integer ratio: gather the two taps
                part = resample_axis(part, 2, cols)
                z1 = part.clone() if z1 is None else z1.add_(part)
        return z1

    def _hidden_pixels(self, feats: list[torch.Tensor], batch: torch.Tensor, ys: torch.Tensor,
                       xs: torch.Tensor) -> torch.Tensor:
        """Pre-activations z1 [P, M*H1] (no bias) at canvas pixels (batch, ys, xs), each [P].

        Maps with fewer source pixels than requested pixels are projected whole, and the
        projections of all of them are interpolated at once by one sparse [P, sum N*r*r] matrix of
        bilinear taps (its backward is one sparse product too, no dense scatter per map). Finer maps
        are interpolated first (their few channels) and projected after."""
        out, mode = self.config.out_resolution, self.config.interpolation
        n, p = feats[0].shape[0], ys.numel()
        z1, columns, weights, projections, offset = None, [], [], [], 0
        for r, maps in self._groups.items():
            taps = axis_taps(out, r, mode)
            ty, tx = taps.take(ys), taps.take(xs)
            if n * r * r <= p:
                cols, w = pixel_taps(ty, tx, batch, r)
                columns.append(cols + offset)
                weights.append(w)
                projections.append(self._project(maps, feats, slice(None)).reshape(n * r * r, -1))
                offset += n * r * r
            else:
                vec = torch.cat([gather_pixels(feats[i], ty, tx, batch) for i in maps], 1)
                part = vec @ self._group_weight(maps).T
                z1 = part if z1 is None else z1 + part
        if projections:
            dense = torch.cat(projections)
            rows = torch.arange(p).repeat_interleave(4 * len(columns))
            interpolate = torch.sparse_coo_tensor(
                torch.stack([rows, torch.cat(columns, 1).flatten()]).to(dense.device),
                torch.cat(weights, 1).flatten().to(dense.device, dense.dtype), (p, offset), check_invariants=False)
            part = torch.sparse.mm(interpolate, dense)
            z1 = part if z1 is None else z1 + part
        return z1

    def _tiles(self, feats: list[torch.Tensor], rows_per_tile: int | None = None):
        """Yield (row slice of the label map, member logits [N, M, K, T, W]) tile by tile."""
        top, left = self.config.origin
        h, w = self.config.out_size
        m, h1 = self.w1.shape[:2]
        n = feats[0].shape[0]
        rows_per_tile = rows_per_tile or max(1, TILE_ELEMENTS // (n * m * h1 * w))
        projected = {r: self._project(maps, feats, slice(None)) for r, maps in self._groups.items()
                     if r * r <= rows_per_tile * w}  # no larger than a tile: project once
        xs = torch.arange(left, left + w)
        for y0 in range(0, h, rows_per_tile):
            y1 = min(h, y0 + rows_per_tile)
            z1 = self._hidden_rows(feats, torch.arange(top + y0, top + y1), xs, projected)
            z1 = z1.add_(self.b1.flatten()).view(n, (y1 - y0) * w, m, h1).permute(0, 2, 3, 1)
            yield slice(y0, y1), self._tail(z1).unflatten(3, (y1 - y0, w))

    # ------------------------------------------------------------------ public
    def member_logits(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                      rows_per_tile: int | None = None) -> torch.Tensor:
        """Factorised member logits: [N, M, K, H, W] over the label map, or [N, M, K, P] at `pixels`
        (bool mask [H, W], or flat indices [P] / [N, P] into the label map). Differentiable.
        rows_per_tile: label-map rows per tile (default: about TILE_ELEMENTS hidden values)."""
        self._check_features(feats)
        if self.training:
            raise InputError("member_logits runs in eval mode (BatchNorm folded); call .eval() first")
        n = feats[0].shape[0]
        m, h1 = self.w1.shape[:2]
        if pixels is not None:
            batch, ys, xs, p = self._pixel_coords(pixels, n)
            z1 = self._hidden_pixels(feats, batch, ys, xs).view(n, p, m, h1).permute(0, 2, 3, 1)
            return self._tail(z1 + self.b1[..., None])
        return torch.cat([logits for _, logits in self._tiles(feats, rows_per_tile)], dim=3)

    def predict(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                rows_per_tile: int | None = None) -> Segmentation:
        """Ensemble prediction (see `Segmentation`), computed tile by tile so that member logits
        of the whole label map never coexist in memory."""
        if pixels is not None:
            return ensemble(self.member_logits(feats, pixels))
        self._check_features(feats)
        if self.training:
            raise InputError("predict runs in eval mode; call .eval() first")
        n, (h, w), k = feats[0].shape[0], self.config.out_size, self.config.num_classes
        probs = feats[0].new_empty(n, k, h, w)
        unc = feats[0].new_empty(n, h, w)
        for rows, logits in self._tiles(feats, rows_per_tile):
            seg = ensemble(logits)
            probs[:, :, rows], unc[:, rows] = seg.probs, seg.uncertainty
        return Segmentation(probs, probs.argmax(1), unc)

    def forward(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None) -> torch.Tensor:
        return self.member_logits(feats, pixels)

    def upsampled_features(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The naive input: every map interpolated to the canvas, concatenated, cropped -> [N, C_in, H, W]."""
        self._check_features(feats)
        out, mode = self.config.out_resolution, self.config.interpolation
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        top, left = self.config.origin
        h, w = self.config.out_size
        x = feats[0].new_empty(feats[0].shape[0], self.config.in_features, h, w)
        for f, (a, b) in zip(feats, self._columns):  # filled in place, as DatasetGAN's latent_to_image does
            x[:, a:b] = F.interpolate(f, size=(out, out), mode=mode, **kwargs)[:, :, top:top + h, left:left + w]
        return x

    def forward_naive(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None) -> torch.Tensor:
        """Reference: DatasetGAN's computation, member by member, BatchNorm unfolded (eval mode)."""
        x = self.upsampled_features(feats)
        n, cin, h, w = x.shape
        x = x.reshape(n, cin, h * w)
        if pixels is not None:
            batch, ys, xs, p = self._pixel_coords(pixels, n)
            top, left = self.config.origin
            flat = ((ys - top) * w + xs - left).view(n, p)
            x = torch.stack([x[i][:, flat[i]] for i in range(n)])
        eps = self.config.bn_eps
        out = []
        for m in range(self.num_members):
            z = F.relu(torch.matmul(self.w1[m], x) + self.b1[m, :, None])
            z = (z - self.bn1_mean[m, :, None]) / torch.sqrt(self.bn1_var[m, :, None] + eps) \
                * self.bn1_weight[m, :, None] + self.bn1_bias[m, :, None]
            z = F.relu(torch.matmul(self.w2[m], z) + self.b2[m, :, None])
            z = (z - self.bn2_mean[m, :, None]) / torch.sqrt(self.bn2_var[m, :, None] + eps) \
                * self.bn2_weight[m, :, None] + self.bn2_bias[m, :, None]
            out.append(torch.matmul(self.w3[m], z) + self.b3[m, :, None])
        logits = torch.stack(out, 1)
        return logits if pixels is not None else logits.unflatten(3, (h, w))

    def gather_features(self, feats: list[torch.Tensor], batch: torch.Tensor, ys: torch.Tensor,
                        xs: torch.Tensor) -> torch.Tensor:
        """Concatenated resampled feature vectors [P, C_in] at label-map pixels (batch, ys, xs),
        each int64 [P] (ys, xs relative to the label map, i.e. inside the crop)."""
        top, left = self.config.origin
        taps = {r: axis_taps(self.config.out_resolution, r, self.config.interpolation) for r in self._groups}
        parts = []
        for f in feats:
            t = taps[f.shape[-1]]
            parts.append(gather_pixels(f, t.take(ys + top), t.take(xs + left), batch))
        return torch.cat(parts, 1)


def ensemble(logits: torch.Tensor) -> Segmentation:
    """Member logits [N, M, K, ...] -> mean softmax, argmax labels, Jensen-Shannon uncertainty."""
    logp = torch.log_softmax(logits, dim=2)
    p = logp.exp()
    mean = p.mean(1)
    member_entropy = -(p * logp).sum(2).mean(1)
    mean_entropy = -(mean * torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))).sum(1)
    return Segmentation(mean, mean.argmax(1), (mean_entropy - member_entropy).clamp_min(0))


def segmentation_features(generator, wplus: torch.Tensor, config: SegmenterConfig, **synthesis_kwargs):
    """Run the synthesis network and return (image, the feature maps `config` reads, in order).

    With config.include_const the generator's learned 4x4 constant input comes first (as in the
    EditGAN release), then S^k for k in config.layers (all when None). kwargs go to synthesis.
    """
    img, feats = generator.synthesis(wplus, return_features=True, **synthesis_kwargs)
    chosen = feats if config.layers is None else [feats[k] for k in config.layers]
    if config.include_const:
        const = generator.synthesis.b4.const
        chosen = [const.unsqueeze(0).expand(wplus.shape[0], -1, -1, -1)] + list(chosen)
    got = [(f.shape[1], f.shape[-1]) for f in chosen]
    if got != [tuple(s) for s in config.feature_shapes]:
        raise ConfigError(f"generator feature maps {got} do not match the segmenter's {config.feature_shapes}")
    return img, chosen
