"""Kernel distance between two feature sets (KID-style).

The unbiased estimate of the squared maximum mean discrepancy with the polynomial kernel
k(x, y) = (x.y / D + 1)^3 (Binkowski et al. 2018), averaged over random subsets of at most
`subset_size` samples per set. Unlike the Fréchet distance it is unbiased for small sets.
"""

from __future__ import annotations

import torch

from editgan.eval.frechet import check_feature_sets


def polynomial_mmd2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 of a [n, D] and b [m, D] with the cubic polynomial kernel (float64 scalar)."""
    d = a.shape[1]
    kaa = (a @ a.T / d + 1) ** 3
    kbb = (b @ b.T / d + 1) ** 3
    kab = (a @ b.T / d + 1) ** 3
    n, m = len(a), len(b)
    return ((kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1)) + (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
            - 2 * kab.mean())


def kernel_distance(feats_a: torch.Tensor, feats_b: torch.Tensor, subsets: int = 10, subset_size: int = 1000,
                    seed: int = 0) -> float:
    """Mean polynomial MMD^2 over `subsets` random subsets (the full sets if both are small enough).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
        >>> abs(kernel_distance(a, b)) < 0.5 < kernel_distance(a, b + 1)  # unbiased: about 0 for one distribution
        True
    """
    check_feature_sets(feats_a, feats_b, "kernel_distance")
    a, b = feats_a.double(), feats_b.double()
    size = min(subset_size, len(a), len(b))
    if size == len(a) == len(b):
        return float(polynomial_mmd2(a, b))
    gen = torch.Generator().manual_seed(seed)
    total = sum(polynomial_mmd2(a[torch.randperm(len(a), generator=gen)[:size]],
                                b[torch.randperm(len(b), generator=gen)[:size]]) for _ in range(subsets))
    return float(total / subsets)
