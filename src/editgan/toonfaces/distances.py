"""fd_toon and kd_toon: the Fréchet and kernel distances between two toonface image sets in the
measuring networks' features (the analogues of FID / KID in EditGAN Sec. 4.2, but not those metrics:
no Inception network is involved)."""

from __future__ import annotations

import torch

from editgan.eval.frechet import frechet_distance
from editgan.eval.kernel_distance import kernel_distance
from editgan.toonfaces.features import toon_features


def fd_toon(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Fréchet distance between two toonface image sets (float [N, 3, S, S] in [-1, 1]) in toon features."""
    return frechet_distance(toon_features(images_a), toon_features(images_b))


def kd_toon(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Kernel distance between two toonface image sets (float [N, 3, S, S] in [-1, 1]) in toon features."""
    return kernel_distance(toon_features(images_a), toon_features(images_b))
