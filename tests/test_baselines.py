"""InterFaceGAN and GANSpace-style directions, and the matched-scale math, against independent computations."""

import numpy as np
import pytest
import torch

from editgan.errors import InputError
from editgan.eval.baselines import as_wplus_vector, most_correlated_component, principal_directions, svm_direction
from editgan.eval.matched_scale import matched_scale, wplus_step_norm


def test_svm_direction_recovers_the_true_normal_of_separable_data():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=16)
    normal /= np.linalg.norm(normal)
    w = rng.normal(size=(2000, 16))
    margin = w @ normal - 0.3
    keep = np.abs(margin) > 0.2  # a clear gap around the boundary: linearly separable
    direction = svm_direction(w[keep], margin[keep] > 0)
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert direction @ normal > 0.97  # points to the positive side, along the true normal


def test_svm_direction_needs_both_classes():
    with pytest.raises(InputError, match="both classes"):
        svm_direction(np.random.default_rng(0).normal(size=(20, 4)), np.ones(20, bool))


def test_principal_directions_match_numpy_eigendecomposition_of_the_covariance():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(500, 6)) @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5, 0.2]) @ np.linalg.qr(rng.normal(size=(6, 6)))[0]
    comps, var = principal_directions(w, 3)
    vals, vecs = np.linalg.eigh(np.cov(w.T))
    order = np.argsort(vals)[::-1][:3]
    np.testing.assert_allclose(var, vals[order], rtol=1e-8)
    for c, v in zip(comps, vecs[:, order].T):
        assert abs(c @ v) == pytest.approx(1.0, abs=1e-8)  # same axis up to sign
        assert c[np.abs(c).argmax()] > 0  # the documented sign convention


def test_most_correlated_component_picks_the_attribute_axis_with_the_right_sign():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    coords = rng.normal(size=(3000, 8)) * np.array([4.0, 3.0, 2.5, 2.0, 1.0, 1.0, 1.0, 1.0])
    w = coords @ basis.T
    scores = -coords[:, 2] + 0.1 * rng.normal(size=3000)  # the 3rd component, negatively
    direction, index, corr = most_correlated_component(w, scores, k=5)
    assert index == 2 and corr > 0.99
    assert direction @ basis[:, 2] == pytest.approx(-1.0, abs=1e-2)  # signed so the score rises along it
    assert np.corrcoef((w - w.mean(0)) @ direction, scores)[0, 1] > 0.99


def test_as_wplus_vector_broadcasts_the_unit_step_to_every_layer():
    v = as_wplus_vector(np.array([0.6, 0.8]), num_ws=5)
    assert v.shape == (5, 2) and v.dtype == torch.float32
    assert wplus_step_norm(v.numpy()) == pytest.approx(np.sqrt(5))


def test_matched_scale_inverts_a_linear_and_a_piecewise_curve():
    scales = np.linspace(0, 4, 9)
    assert matched_scale(scales, 0.25 * scales, 0.6) == pytest.approx(2.4)
    # a curve that saturates and then rises again: the first crossing counts
    changes = np.array([0.0, 0.2, 0.5, 0.5, 0.4, 0.6, 0.9, 1.0, 1.0])
    assert matched_scale(scales, changes, 0.35) == pytest.approx(0.5 + 0.5 * (0.15 / 0.3))
    assert matched_scale(scales, changes, 0.0) == 0.0
    with pytest.raises(InputError, match="never reaches"):
        matched_scale(scales, changes, 1.5)
    with pytest.raises(InputError, match="increasing"):
        matched_scale(scales[::-1], changes, 0.3)


def test_wplus_step_norm_of_a_batch_is_the_mean_frobenius_norm():
    d = np.zeros((2, 3, 4))
    d[0, 0, 0], d[1] = 3.0, 1.0
    assert wplus_step_norm(d) == pytest.approx((3.0 + np.sqrt(12)) / 2)
