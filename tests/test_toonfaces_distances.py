"""Fréchet and kernel distance math against independent float64 computations."""

import numpy as np
import pytest
import scipy.linalg
import torch

from editgan.errors import InputError
from editgan.eval.frechet import frechet_distance
from editgan.eval.kernel_distance import kernel_distance, polynomial_mmd2


def _reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * covmean))


def test_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(loc=0.5, size=(200, 6)) @ rng.normal(size=(6, 6))
    ours = frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(_reference_fd(a, b), rel=1e-8)


def test_frechet_closed_form_for_diagonal_gaussians():
    # exact population values: FD = |dmu|^2 + sum (sa - sb)^2 for diagonal covariances sa^2, sb^2
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400_000, 3))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    sa, sb, dmu = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5]), np.array([1.0, 0.0, -1.0])
    fd = frechet_distance(torch.from_numpy(z * sa), torch.from_numpy(z * sb + dmu))
    assert fd == pytest.approx(2.0 + 1.0 + 1.0, rel=1e-3)
    same = torch.from_numpy(rng.normal(size=(50, 4)))
    assert frechet_distance(same, same) == pytest.approx(0.0, abs=1e-8)


def test_polynomial_mmd_matches_loops():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.3
    k = lambda x, y: (float(np.dot(x, y)) / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(a[i], b[j]) for i in range(7) for j in range(5)) / 35
    expected = xx + yy - 2 * xy
    assert float(polynomial_mmd2(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(expected, rel=1e-10)
    assert kernel_distance(torch.from_numpy(a[:5]), torch.from_numpy(b)) == pytest.approx(
        float(polynomial_mmd2(torch.from_numpy(a[:5]), torch.from_numpy(b))))


def test_kernel_distance_subsets_separate_distributions():
    rng = np.random.default_rng(3)
    a = torch.from_numpy(rng.normal(size=(600, 4)))
    b = torch.from_numpy(rng.normal(size=(500, 4)))
    c = torch.from_numpy(rng.normal(loc=1.0, size=(500, 4)))
    same, shifted = kernel_distance(a, b, subset_size=200), kernel_distance(a, c, subset_size=200)
    assert abs(same) < 0.05 < shifted


def test_distance_bad_input():
    with pytest.raises(InputError, match="one D"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(InputError, match="at least 2"):
        kernel_distance(torch.zeros(1, 3), torch.zeros(5, 3))
