"""Identity networks R for the λ3 term of the editing objective (EditGAN Eq. 4).

Each is a differentiable callable: images [N, 3, H, W] in [-1, 1] -> embeddings [N, D] (compared by
cosine similarity in `editgan.edit.losses.identity_loss`).

- ArcFace IR-SE50 (`model_ir_se50.pth`, supplied by the user): the face is taken as pSp and EditGAN
  do, from a 256x256 image -- resize to 256 by adaptive average pooling, crop rows 35:223 and
  columns 32:220 (188x188), average-pool to 112x112 -- then embedded;
- identity networks that domain plug-ins register by name (`editgan.registry.IDENTITY`), e.g.
  "toonfaces" for the toonfaces measuring network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import InputError
from editgan.io.arcface_weights import load_arcface
from editgan.nn.irse import INPUT_SIZE, IRSE50
from editgan.registry import IDENTITY

Identity = Callable[[torch.Tensor], torch.Tensor]
FACE_FRAME = 256  # the image size the crop below is defined on
FACE_ROWS, FACE_COLS = slice(35, 223), slice(32, 220)


def arcface_crop(images: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> the face crop [N, 3, 112, 112] (pool to 256, crop 35:223 x 32:220, pool to 112)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"images must be [N, 3, H, W], got {list(images.shape)}")
    if tuple(images.shape[-2:]) != (FACE_FRAME, FACE_FRAME):
        images = F.adaptive_avg_pool2d(images, FACE_FRAME)
    return F.adaptive_avg_pool2d(images[:, :, FACE_ROWS, FACE_COLS], INPUT_SIZE)


class ArcFaceIdentity(nn.Module):
    """R(x) = IR-SE50(face crop of x): images [N, 3, H, W] in [-1, 1] -> unit embeddings [N, 512]."""

    def __init__(self, net: IRSE50):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(arcface_crop(images))


def load_identity(spec: str | Path | Identity | None, device: str | torch.device = "cpu") -> Identity | None:
    """None -> None; an existing file -> ArcFace IR-SE50 from it; another name -> the identity network a
    domain plug-in registered under it (e.g. 'toonfaces'); a callable is returned as is. Networks come
    frozen, in eval mode, on `device`."""
    if spec is None or callable(spec):
        return spec
    if not Path(spec).is_file() and str(spec) in IDENTITY:
        return IDENTITY.get(str(spec))().to(device).eval().requires_grad_(False)
    return ArcFaceIdentity(load_arcface(spec)).to(device).eval()
