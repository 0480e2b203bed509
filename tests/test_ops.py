"""StyleGAN2 ops against independent float64 references built from scipy/numpy loops."""

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d, correlate2d

from editgan.nn import ops

rng = np.random.default_rng(0)


def ref_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """x [N,C,H,W] float64 numpy; zero-insert, pad/crop, true 2-D convolution (valid), decimate."""
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up))
    z[:, :, ::up, ::up] = x
    z = np.pad(z, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    z = z[:, :, max(-py0, 0): z.shape[2] - max(-py1, 0), max(-px0, 0): z.shape[3] - max(-px1, 0)]
    out = np.stack([np.stack([convolve2d(z[i, j], f * gain, mode="valid") for j in range(c)]) for i in range(n)])
    return out[:, :, ::down, ::down]


def ref_conv(x, w, mode, padding=0):
    """x [N,Cin,H,W], w [Cout,Cin,k,k]; mode 'corr' (cross-correlation) or 'conv' (true conv)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    op = correlate2d if mode == "corr" else convolve2d
    return np.stack([np.stack([sum(op(x[i, ci], w[co, ci], mode="valid") for ci in range(x.shape[1]))
                               for co in range(w.shape[0])]) for i in range(x.shape[0])])


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


FILTER = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def test_make_filter_is_normalised_outer_product():
    np.testing.assert_allclose(ops.make_filter().numpy(), FILTER, rtol=1e-7)


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2, 2, 1)), (2, 1, (2, 1, 2, 1)), (2, 1, (3, 2, 3, 2)),
                                         (1, 2, (1, 1, 1, 1)), (2, 1, (-1, 0, 1, -2)), (1, 1, (-1, 2, 0, -1)),
                                         (2, 2, (1, 1, 2, 2))])
def test_upfirdn2d_matches_reference(up, down, pad):
    x = rng.standard_normal((2, 3, 7, 6))
    f = rng.standard_normal((4, 4))  # asymmetric: catches flips
    got = ops.upfirdn2d(t(x), t(f), up=up, down=down, pad=pad, gain=1.7).numpy()
    np.testing.assert_allclose(got, ref_upfirdn2d(x, f, up, down, pad, 1.7), rtol=1e-10, atol=1e-10)


def test_upsample_and_downsample_shapes_and_dc_gain():
    x = torch.ones(1, 2, 8, 8, dtype=torch.float64)
    f = ops.make_filter().double()
    up, down = ops.upsample2d(x, f), ops.downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    # Away from the border, a constant stays constant (filter gain 1 after up/down).
    assert torch.allclose(up[..., 3:-3, 3:-3], torch.ones(1, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, dtype=torch.float64), atol=1e-12)


def test_conv2d_resample_up_is_true_conv_of_upfirdn():
    """NVIDIA's generic definition for up=2, k=3, pad=1: upfirdn(up 2, pad (3,2), gain 4), then true conv."""
    x, w = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((4, 3, 3, 3))
    f = t(FILTER)
    got = ops.conv2d_resample(t(x), t(w), f, up=2, padding=1).numpy()
    want = ref_conv(ref_upfirdn2d(x, FILTER, up=2, pad=(3, 2, 3, 2), gain=4), w, "conv")
    assert got.shape == (2, 4, 10, 8)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_conv2d_resample_down_and_plain():
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    f = t(FILTER)
    down = ops.conv2d_resample(t(x), t(w), f, down=2, padding=1).numpy()
    want = ref_conv(ref_upfirdn2d(x, FILTER, pad=(2, 2, 2, 2)), w, "corr")[:, :, ::2, ::2]
    np.testing.assert_allclose(down, want, rtol=1e-10, atol=1e-10)
    w1 = rng.standard_normal((4, 3, 1, 1))
    skip = ops.conv2d_resample(t(x), t(w1), f, down=2).numpy()
    want1 = ref_conv(ref_upfirdn2d(x, FILTER, down=2, pad=(1, 1, 1, 1)), w1, "corr")
    np.testing.assert_allclose(skip, want1, rtol=1e-10, atol=1e-10)
    plain = ops.conv2d_resample(t(x), t(w), None, padding=1).numpy()
    np.testing.assert_allclose(plain, ref_conv(x, w, "corr", padding=1), rtol=1e-10, atol=1e-10)


def ref_modconv(x, w, s, demodulate, up):
    out = []
    for i in range(x.shape[0]):
        wi = w * s[i][None, :, None, None]
        if demodulate:
            wi = wi / np.sqrt((wi ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        xi = x[i:i + 1]
        if up == 2:
            out.append(ref_conv(ref_upfirdn2d(xi, FILTER, up=2, pad=(3, 2, 3, 2), gain=4), wi, "conv")[0])
        else:
            out.append(ref_conv(xi, wi, "corr", padding=w.shape[2] // 2)[0])
    return np.stack(out)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up,demodulate,k", [(1, True, 3), (2, True, 3), (1, False, 1)])
def test_modulated_conv2d_matches_per_sample_reference(fused, up, demodulate, k):
    x, w = rng.standard_normal((3, 4, 5, 5)), rng.standard_normal((6, 4, k, k))
    s = rng.standard_normal((3, 4))
    got = ops.modulated_conv2d(t(x), t(w), t(s), demodulate=demodulate, up=up, padding=k // 2,
                               resample_filter=t(FILTER), fused=fused).numpy()
    np.testing.assert_allclose(got, ref_modconv(x, w, s, demodulate, up), rtol=1e-9, atol=1e-9)


def test_demodulation_coefficients():
    w, s = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal((2, 4))
    want = np.stack([1 / np.sqrt(((w * s[i][None, :, None, None]) ** 2).sum(axis=(1, 2, 3)) + 1e-8) for i in range(2)])
    np.testing.assert_allclose(ops.demodulation_coefficients(t(w), t(s)).numpy(), want, rtol=1e-12)


def test_bias_act_and_normalize():
    x, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(3)
    y = x + b[None, :, None]
    want = np.clip(np.where(y > 0, y, 0.2 * y) * np.sqrt(2) * 0.5, -0.3, 0.3)
    np.testing.assert_allclose(ops.bias_act(t(x), t(b), gain=0.5, clamp=0.3).numpy(), want, rtol=1e-12)
    z = rng.standard_normal((3, 7))
    np.testing.assert_allclose(ops.normalize_2nd_moment(t(z)).numpy(),
                               z / np.sqrt((z ** 2).mean(axis=1, keepdims=True) + 1e-8), rtol=1e-12)
    with pytest.raises(ValueError):
        ops.bias_act(t(x), None, act="swish")


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_bias_and_gain(fused, demodulate):
    x, w, s, b = (rng.standard_normal(shape) for shape in ((2, 4, 5, 5), (3, 4, 3, 3), (2, 4), (3,)))
    got = ops.modulated_conv2d(t(x), t(w), t(s), demodulate=demodulate, padding=1, fused=fused, bias=t(b),
                               gain=1.5).numpy()
    want = 1.5 * (ref_modconv(x, w, s, demodulate, 1) + b[None, :, None, None])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv2d_mixed_precision_tracks_float64(up):
    """bf16 activations with float64 weight/styles/bias: the result is bf16 and within bf16 rounding
    of the float64 reference (demodulation coefficients stay in the weights' precision)."""
    x, w, s, b = (rng.standard_normal(shape) for shape in ((2, 8, 6, 6), (5, 8, 3, 3), (2, 8), (5,)))
    got = ops.modulated_conv2d(t(x).to(torch.bfloat16), t(w), t(s), up=up, padding=1, resample_filter=t(FILTER),
                               bias=t(b), gain=1.5)
    assert got.dtype == torch.bfloat16
    want = 1.5 * (ref_modconv(x, w, s, True, up) + b[None, :, None, None])
    err = np.abs(got.double().numpy() - want).max() / np.abs(want).max()
    assert err < 2e-2


def test_conv2d_resample_bias_is_added_after_resampling():
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    f = t(FILTER)
    for kw in (dict(up=2), dict(down=2), {}):
        plain = ops.conv2d_resample(t(x), t(w), f, padding=1, **kw)
        biased = ops.conv2d_resample(t(x), t(w), f, padding=1, bias=t(b), **kw)
        np.testing.assert_allclose(biased.numpy(), (plain + t(b)[None, :, None, None]).numpy(), rtol=1e-12)
