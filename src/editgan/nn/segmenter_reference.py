"""The segmentation branch's literal definition, the referee of the factorised inference
(`editgan.nn.segmenter_inference`): every feature map interpolated to the canvas and concatenated (as
DatasetGAN's latent_to_image does), then each member's MLP with BatchNorm unfolded (eval mode).

A reference implementation, not a path the package runs: the tests check the factorised inference
against it, and bench/segmentation.py times it as the "naive" variant. It holds the whole
[N, C_in, H, W] concatenation (6.3 GB for the release's car configuration at 512 px).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_inference import feature_columns


def upsampled_features(seg: Segmenter, feats: list[torch.Tensor]) -> torch.Tensor:
    """The naive input: every map interpolated to the canvas, concatenated, cropped -> [N, C_in, H, W]."""
    seg.inference.check_features(feats)
    out, mode = seg.config.out_resolution, seg.config.interpolation
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    top, left = seg.config.origin
    h, w = seg.config.out_size
    x = feats[0].new_empty(feats[0].shape[0], seg.config.in_features, h, w)
    for f, (a, b) in zip(feats, feature_columns(seg.config)):  # filled in place, as DatasetGAN does
        x[:, a:b] = F.interpolate(f, size=(out, out), mode=mode, **kwargs)[:, :, top:top + h, left:left + w]
    return x


def forward_naive(seg: Segmenter, feats: list[torch.Tensor], pixels: torch.Tensor | None = None) -> torch.Tensor:
    """Reference: DatasetGAN's computation, member by member, BatchNorm unfolded (eval mode)."""
    x = upsampled_features(seg, feats)
    n, cin, h, w = x.shape
    x = x.reshape(n, cin, h * w)
    if pixels is not None:
        batch, ys, xs, p = seg.inference.pixel_coords(pixels, n)
        top, left = seg.config.origin
        flat = ((ys - top) * w + xs - left).view(n, p)
        x = torch.stack([x[i][:, flat[i]] for i in range(n)])
    eps = seg.config.bn_eps
    out = []
    for m in range(seg.num_members):
        z = F.relu(torch.matmul(seg.w1[m], x) + seg.b1[m, :, None])
        z = (z - seg.bn1_mean[m, :, None]) / torch.sqrt(seg.bn1_var[m, :, None] + eps) \
            * seg.bn1_weight[m, :, None] + seg.bn1_bias[m, :, None]
        z = F.relu(torch.matmul(seg.w2[m], z) + seg.b2[m, :, None])
        z = (z - seg.bn2_mean[m, :, None]) / torch.sqrt(seg.bn2_var[m, :, None] + eps) \
            * seg.bn2_weight[m, :, None] + seg.bn2_bias[m, :, None]
        out.append(torch.matmul(seg.w3[m], z) + seg.b3[m, :, None])
    logits = torch.stack(out, 1)
    return logits if pixels is not None else logits.unflatten(3, (h, w))
