"""Weight-free perceptual distances as pure functions, and the convention every distance follows.

Every distance is `fn(a, b, mask=None) -> [N]`: a, b float [N, 3, H, W] in [-1, 1]; mask
[N or 1, 1, H, W] (1 keeps a pixel) multiplies both images first, exactly `d(a * mask, b * mask)`
(the convention of `editgan.nn.lpips`). The result is >= 0 and 0 for identical images;
gradients flow to the images, the distance's own networks stay frozen.

"msssim_l1": 0.84 (1 - MS-SSIM) + 0.16 L1 (Zhao et al. 2017, "Loss functions for image
restoration"). Weight-free and cheap; any domain. MS-SSIM sees local structure and contrast at
several scales but knows no semantics, so it is weaker than LPIPS on textures and large
misalignments. Images must be at least 11 px (the Gaussian window). Distances are chosen by name
through `editgan.io.perceptual.get_perceptual`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from editgan.errors import InputError

PerceptualFn = Callable[..., torch.Tensor]
# The pixel spaces images are compared in by the embedding and editing objectives: [-1, 1] (ours) or
# [0, 1] (the official release); a distance itself always takes [-1, 1].
PIXEL_SPACES = ("signed", "unit")

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01 ** 2  # (K1 * data range)^2, data range 1 after mapping [-1, 1] -> [0, 1]
SSIM_C2 = 0.03 ** 2
# Wang, Simoncelli & Bovik 2003: exponents of the five scales, finest first.
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MSSSIM_ALPHA = 0.84


def check_pair(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None, name: str):
    if a.dim() != 4 or a.shape[1] != 3 or a.shape != b.shape:
        raise InputError(f"{name} takes two image batches [N, 3, H, W] of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if mask is None:
        return a, b
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2:] != a.shape[2:] or mask.shape[0] not in (1, a.shape[0]):
        raise InputError(f"{name} mask must be [N or 1, 1, {a.shape[2]}, {a.shape[3]}], got {tuple(mask.shape)}")
    return a * mask, b * mask


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """1-D Gaussian [size] summing to 1, centred."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, 'valid' region: [N, C, H, W] -> [N, C, H - k + 1, W - k + 1]."""
    c = x.shape[1]
    k = g.to(x.dtype).to(x.device)
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_components(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y [N, C, H, W] in [0, 1], H, W >= 11 -> (SSIM [N], contrast-structure [N]).

    Gaussian-weighted local statistics (window 11, sigma 1.5, valid region) as in Wang et al.
    2004; maps are averaged over channels and positions.
    """
    g = gaussian_window()
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    var_x = _blur(x * x, g) - mu_x.square()
    var_y = _blur(y * y, g) - mu_y.square()
    cov = _blur(x * y, g) - mu_x * mu_y
    cs = (2 * cov + SSIM_C2) / (var_x + var_y + SSIM_C2)
    lum = (2 * mu_x * mu_y + SSIM_C1) / (mu_x.square() + mu_y.square() + SSIM_C1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x, y [N, C, H, W] in [0, 1] -> MS-SSIM [N] in [0, 1].

    Scales are 2x average-pooled; as many of the five standard scales are used as keep the
    side >= 11 (a 32 px image gets two), with their exponents renormalised to sum to 1.
    Per-scale terms are clamped to >= 1e-6 so fractional powers stay defined.
    """
    side = min(x.shape[-2:])
    if side < SSIM_WINDOW:
        raise InputError(f"MS-SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}")
    levels = 1
    while levels < len(MSSSIM_WEIGHTS) and side >> levels >= SSIM_WINDOW:
        levels += 1
    weights = torch.tensor(MSSSIM_WEIGHTS[:levels], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    out = x.new_ones(x.shape[0])
    for level in range(levels):
        ssim, cs = ssim_components(x, y)
        term = ssim if level == levels - 1 else cs
        out = out * term.clamp(min=1e-6) ** weights[level]
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def msssim_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """0.84 (1 - MS-SSIM) + 0.16 mean |a - b|, both on images mapped to [0, 1] -> [N]."""
    a, b = check_pair(a, b, mask, "msssim_l1")
    x, y = (a + 1) / 2, (b + 1) / 2
    l1 = (x - y).abs().mean(dim=(1, 2, 3))
    return MSSSIM_ALPHA * (1 - ms_ssim(x, y)) + (1 - MSSSIM_ALPHA) * l1
