"""LPIPS (Zhang et al. 2018, v0.1, VGG16 trunk): the perceptual distance of EditGAN's embedding
(Sec. 3.2, App. A.2) and of its editing loss outside the edited region (Eq. 3).

For images x, y [N, 3, H, W] in [-1, 1]:

    x' = (x - shift) / scale                 ScalingLayer: shift (-.030, -.088, -.188),
                                                           scale (.458, .448, .450)
    f_s = VGG16 relu1_2 ... relu5_3 of x'    [N, C_s, H_s, W_s], s = 1..5
    u_s = f_s / (||f_s||_C + 1e-10)          unit length over channels at every pixel
    d(x, y) = sum_s mean_{h,w} sum_c w_{s,c} (u_s(x) - u_s(y))^2     w_s >= 0: the linear heads

Masked use: `mask` [N or 1, 1, H, W] multiplies both images before the distance, exactly
`d(x * mask, y * mask)`; EditGAN's editing loss passes mask = 1 - r, r the edit region.
The trunk and heads are frozen (requires_grad False); gradients flow to the images.
Weights come from `editgan.io.lpips_weights.load_lpips`.
"""

from __future__ import annotations

import torch
from torch import nn

from editgan.errors import InputError
from editgan.nn.vgg import MIN_SIZE, STAGE_CHANNELS, VGG16Features

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def unit_normalize(f: torch.Tensor) -> torch.Tensor:
    """f [N, C, H, W] -> f / (||f||_2 over C + 1e-10)."""
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + EPS)


class LPIPS(nn.Module):
    """LPIPS-VGG v0.1. Parameters use the published names: the trunk's `net.features.{i}.*`
    (torchvision indices) and the heads `lin{s}` [1, C_s, 1, 1], s = 0..4."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.net = VGG16Features()
        for s, c in enumerate(STAGE_CHANNELS):
            self.register_parameter(f"lin{s}", nn.Parameter(torch.zeros(1, c, 1, 1)))
        self.requires_grad_(False)

    def heads(self) -> list[torch.Tensor]:
        return [getattr(self, f"lin{s}") for s in range(len(STAGE_CHANNELS))]

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x, y [N, 3, H, W] in [-1, 1], H, W >= 16; mask [N or 1, 1, H, W] (1 keeps a pixel)
        -> distance [N] (>= 0; 0 for identical images)."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise InputError(f"LPIPS takes two image batches [N, 3, H, W] of one shape, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if min(x.shape[2:]) < MIN_SIZE:
            raise InputError(f"LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE}, got {tuple(x.shape[2:])}")
        if mask is not None:
            if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2:] != x.shape[2:] \
                    or mask.shape[0] not in (1, x.shape[0]):
                raise InputError(f"LPIPS mask must be [N or 1, 1, H, W] = [{x.shape[0]}, 1, "
                                 f"{x.shape[2]}, {x.shape[3]}], got {tuple(mask.shape)}")
            x, y = x * mask, y * mask
        n = x.shape[0]
        taps = self.net((torch.cat([x, y]) - self.shift) / self.scale)
        total = x.new_zeros(n)
        for f, w in zip(taps, self.heads()):
            u = unit_normalize(f)
            diff = (u[:n] - u[n:]).square()
            total = total + (diff * w).sum(dim=1).mean(dim=(1, 2))
        return total
