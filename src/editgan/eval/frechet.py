"""Fréchet distance between two feature sets.

FD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2), the Fréchet (2-Wasserstein)
distance between Gaussians fitted to the sets. Computed in float64 through symmetric
eigendecompositions, so the matrix square roots are of PSD matrices and never complex.
"""

from __future__ import annotations

import torch

from editgan.errors import InputError


def check_feature_sets(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"{what} needs feature sets [N, D] with one D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise InputError(f"{what} needs at least 2 samples per set, got {len(a)} and {len(b)}")


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feats_a [N, D] and feats_b [M, D] (float64).

    Examples:
        >>> a = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
        >>> round(frechet_distance(a, a), 6), round(frechet_distance(a, a + 2), 6)  # |shift|^2 = 3 * 2^2
        (0.0, 12.0)
    """
    check_feature_sets(feats_a, feats_b, "frechet_distance")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = _psd_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    tr_cross = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * tr_cross)
