"""Editing objective (Eq. 2-5) against float64 numpy computations; gradients reach δw+."""

import math

import numpy as np
import pytest
import torch

from editgan.edit.losses import (LEARNING_WEIGHTS, REFINEMENT_WEIGHTS, LossWeights, editing_objective, ensemble_logits,
                                 consistency_loss, identity_loss, outside_l2, outside_perceptual,
                                 region_cross_entropy)
from editgan.edit.region import edit_region
from editgan.errors import InputError
from editgan.nn.segmenter import Segmenter, segmentation_features
from editgan.nn.segmenter_config import SegmenterConfig

torch.set_num_threads(1)


def setup(n=2, k=5, h=9, w=11, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64) * 2 - 1
    x_edit = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64) * 2 - 1
    region = (torch.rand(n, 1, h, w, generator=gen) < 0.3).double()
    logits = torch.randn(n, k, h, w, generator=gen, dtype=torch.float64) * 3
    target = torch.randint(0, k, (n, h, w), generator=gen)
    return x_edit, x, region, logits, target


def numpy_ce(logits, target, region):
    """Explicit per-pixel loop: -log softmax at the target, averaged over region pixels per sample."""
    lg, t, r = logits.numpy(), target.numpy(), region.numpy()[:, 0]
    per_sample = []
    for i in range(lg.shape[0]):
        total, count = 0.0, 0
        for p in zip(*np.nonzero(r[i] > 0.5)):
            z = lg[i][(slice(None),) + p]
            total += -(z[t[i][p]] - (np.log(np.exp(z - z.max()).sum()) + z.max()))
            count += 1
        per_sample.append(total / count if count else 0.0)
    return float(np.mean(per_sample))


def test_outside_l2_is_mean_over_outside_pixels():
    x_edit, x, region, *_ = setup()
    out = 1 - region.numpy()
    diff = (x_edit.numpy() - x.numpy()) ** 2
    ref = np.mean([(diff[i] * out[i]).sum() / (3 * out[i].sum()) for i in range(2)])
    assert outside_l2(x_edit, x, region).item() == pytest.approx(ref, rel=1e-12)
    # a change inside r costs nothing
    changed = x + 5 * region
    assert outside_l2(changed, x, region).item() == 0.0


def test_outside_l2_full_region_is_zero_and_finite():
    x_edit, x, *_ = setup()
    full = torch.ones(2, 1, 9, 11, dtype=torch.float64)
    assert outside_l2(x_edit, x, full).item() == 0.0


def test_outside_perceptual_sees_masked_images():
    x_edit, x, region, *_ = setup()
    seen = []

    def perceptual(a, b):
        seen.append((a, b))
        return (a - b).abs().flatten(1).sum(1)

    loss = outside_perceptual(x_edit, x, region, perceptual)
    a, b = seen[0]
    assert torch.equal(a, x_edit * (1 - region)) and torch.equal(b, x * (1 - region))
    assert loss.item() == pytest.approx(((x_edit - x).abs() * (1 - region)).flatten(1).sum(1).mean().item(), rel=1e-12)
    with pytest.raises(InputError):
        outside_perceptual(x_edit, x, region, lambda a, b: (a - b).abs().sum())  # scalar, not [N]


def test_unit_pixel_space_is_the_release_formula():
    """The release: images (x + 1) / 2 multiplied by the outside mask; F.mse_loss over all
    elements; LPIPS(normalize=True) receives 2 * masked - 1. Checked against numpy in float64."""
    x_edit, x, region, *_ = setup()
    xe, xr, r = x_edit.numpy(), x.numpy(), region.numpy()
    keep = 1 - r
    masked_e, masked_x = (xe + 1) / 2 * keep, (xr + 1) / 2 * keep
    ref_l2 = np.mean((masked_e - masked_x) ** 2)
    assert outside_l2(x_edit, x, region, "unit").item() == pytest.approx(ref_l2, rel=1e-12)
    seen = []

    def perceptual(a, b):
        seen.append((a.numpy(), b.numpy()))
        return (a - b).abs().flatten(1).mean(1)

    outside_perceptual(x_edit, x, region, perceptual, "unit")
    np.testing.assert_allclose(seen[0][0], 2 * masked_e - 1, atol=1e-12)
    np.testing.assert_allclose(seen[0][1], 2 * masked_x - 1, atol=1e-12)
    with pytest.raises(InputError, match="pixel_space"):
        outside_l2(x_edit, x, region, "bytes")


def test_consistency_loss_is_mse_with_a_constant_target():
    w = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    e = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    loss = consistency_loss(w, e)
    assert loss.item() == pytest.approx(((w - e) ** 2).mean().item(), rel=1e-12)
    loss.backward()
    assert e.grad is None and torch.allclose(w.grad, 2 * (w - e).detach() / w.numel())
    with pytest.raises(InputError):
        consistency_loss(w, e[:, :3])


def test_region_cross_entropy_matches_explicit_loop():
    _, _, region, logits, target = setup()
    assert region_cross_entropy(logits, target, region).item() == pytest.approx(numpy_ce(logits, target, region),
                                                                                rel=1e-10)


def test_cross_entropy_on_pixel_subset_counts_every_pixel():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 7, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 7), generator=gen)
    ref = -torch.log_softmax(logits, 1).gather(1, target[:, None]).mean()
    assert region_cross_entropy(logits, target).item() == pytest.approx(ref.item(), rel=1e-12)


def test_empty_region_cross_entropy_is_zero_with_finite_gradient():
    _, _, _, logits, target = setup()
    logits = logits.clone().requires_grad_(True)
    loss = region_cross_entropy(logits, target, torch.zeros(2, 1, 9, 11))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("form", ["mean_logits", "mean_probs"])
def test_ensemble_forms(form):
    gen = torch.Generator().manual_seed(1)
    member = torch.randn(2, 3, 5, 4, 4, generator=gen, dtype=torch.float64)
    scores = ensemble_logits(member, form)
    m = member.numpy()
    if form == "mean_logits":
        ref = m.mean(1)
    else:
        p = np.exp(m - m.max(2, keepdims=True))
        p /= p.sum(2, keepdims=True)
        ref = np.log(p.mean(1))
    np.testing.assert_allclose(scores.numpy(), ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError):
        ensemble_logits(member, "median")


def test_log_probability_input_is_left_as_is_by_cross_entropy():
    """mean_probs scores are log-probabilities: the CE is exactly -log(mean softmax) at the target."""
    gen = torch.Generator().manual_seed(2)
    member = torch.randn(1, 3, 4, 6, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 4, (1, 6), generator=gen)
    mean_p = torch.softmax(member, 2).mean(1)
    ref = -torch.log(mean_p.gather(1, target[:, None])).mean()
    assert region_cross_entropy(ensemble_logits(member, "mean_probs"), target).item() == pytest.approx(ref.item())


def test_cross_entropy_rejects_bad_targets():
    _, _, region, logits, target = setup()
    with pytest.raises(InputError):
        region_cross_entropy(logits, target + 5, region)
    with pytest.raises(InputError):
        region_cross_entropy(logits, target.double(), region)
    with pytest.raises(InputError):
        region_cross_entropy(logits, target[:, :3], region)
    with pytest.raises(InputError):
        region_cross_entropy(logits, target, region[:, :, :3])


def test_identity_loss_is_one_minus_cosine():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]], dtype=torch.float64)
    assert identity_loss(a, b).item() == pytest.approx(0.5)  # (1 - 0 + 1 - 1) / 2
    assert math.isfinite(identity_loss(torch.zeros(1, 3), torch.ones(1, 3)).item())


def test_editing_objective_combines_terms_with_weights():
    x_edit, x, region, logits, target = setup()
    embed = lambda img: img.mean((2, 3))  # noqa: E731  a toy R: [N, 3]
    perceptual = lambda a, b: ((a - b) ** 2).flatten(1).max(1).values  # noqa: E731
    for weights in (LEARNING_WEIGHTS, REFINEMENT_WEIGHTS):
        out = editing_objective(x_edit, x, region, logits, target, weights, perceptual=perceptual, embed=embed)
        masked_p = perceptual(x_edit * (1 - region), x * (1 - region)).mean()
        ref = (weights.rgb * (outside_l2(x_edit, x, region) + masked_p)
               + weights.ce * numpy_ce(logits, target, region)
               + weights.identity * identity_loss(embed(x_edit), embed(x)))
        assert out.loss.item() == pytest.approx(ref.item(), rel=1e-10)
    assert tuple(LEARNING_WEIGHTS) == (15, 1, 10) and tuple(REFINEMENT_WEIGHTS) == (5, 1, 5)
    bare = editing_objective(x_edit, x, region, logits, target)
    assert bare.identity.item() == 0 and bare.perceptual.item() == 0
    assert bare.loss.item() == pytest.approx(15 * bare.l2.item() + bare.ce.item())
    assert set(bare.as_floats()) == {"loss", "l2", "perceptual", "ce", "identity", "consistency"}
    cons = torch.tensor(0.25, dtype=torch.float64)
    release = editing_objective(x_edit, x, region, logits, target, LossWeights(15, 1, 0), perceptual=perceptual,
                                l2_weight=5, perceptual_weight=10, pixel_space="unit", consistency=cons,
                                consistency_weight=1)
    ref = (15 * (5 * outside_l2(x_edit, x, region, "unit") + 10 * outside_perceptual(x_edit, x, region, perceptual,
                                                                                       "unit"))
           + numpy_ce(logits, target, region) + 0.25)
    assert release.loss.item() == pytest.approx(ref.item(), rel=1e-10)


def test_objective_with_empty_region_is_finite():
    x_edit, x, _, logits, target = setup()
    out = editing_objective(x_edit, x, torch.zeros(1, 1, 9, 11), logits, target)
    assert torch.isfinite(out.loss) and out.ce.item() == 0


def test_gradients_reach_delta_wplus_through_generator_and_segmenter(tiny_generator):
    g = tiny_generator
    cfg = SegmenterConfig.for_generator(g.config, 4, num_members=2)
    seg = Segmenter(cfg)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(5)
        for p in seg.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    seg.eval().requires_grad_(False)
    wplus = g.z_to_wplus(g.sample_z(1, seed=1))
    with torch.no_grad():
        x, feats = segmentation_features(g, wplus, cfg)
        y = seg.predict(feats).labels
    y_edited = y.clone()
    y_edited[:, 10:18, 12:20] = 2
    region = edit_region(y, y_edited, [2], buffer=2)
    assert 0 < region.sum() < region.numel()
    delta = torch.zeros_like(wplus, requires_grad=True)
    x_edit, feats = segmentation_features(g, wplus + delta, cfg)
    for form in ("mean_logits", "mean_probs"):
        logits = ensemble_logits(seg.member_logits(feats), form)
        loss = editing_objective(x_edit, x, region, logits, y_edited,
                                 perceptual=lambda a, b: (a - b).abs().mean((1, 2, 3)),
                                 embed=lambda img: img.mean((2, 3)))
        grad, = torch.autograd.grad(loss.loss, delta, retain_graph=True)
        assert torch.isfinite(grad).all() and grad.abs().max() > 0
    # the pixel-subset path (segmenter evaluated only inside r) gives the same CE and gradient
    inside = region[0, 0] > 0
    dense = editing_objective(x_edit, x, region, seg.member_logits(feats).mean(1), y_edited)
    sparse = editing_objective(x_edit, x, region, seg.member_logits(feats, inside).mean(1), y_edited[:, inside])
    assert sparse.ce.item() == pytest.approx(dense.ce.item(), rel=1e-5)
    g_dense, = torch.autograd.grad(dense.loss, delta, retain_graph=True)
    g_sparse, = torch.autograd.grad(sparse.loss, delta)
    assert torch.allclose(g_dense, g_sparse, rtol=1e-3, atol=1e-6)
