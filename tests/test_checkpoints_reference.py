"""Self-checks of the independent float64 reference (tests/reference_stylegan2.py)."""

import numpy as np
import torch
import torch.nn.functional as F

import reference_stylegan2 as ref


def test_upfirdn_matches_textbook_definition():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 5, 5, generator=g, dtype=torch.float64)
    f = ref.fir_filter()
    for up, pad, gain in [(2, (2, 1), 4.0), (1, (1, 1), 1.0), (2, (3, 2), 4.0)]:
        got = ref.upfirdn2d(x, f, up=up, pad=(pad[0], pad[1], pad[0], pad[1]), gain=gain)[0, 0].numpy()
        want = ref.upfirdn2d_direct(x[0, 0].numpy(), f.numpy(), up, pad, gain)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_skip_upsampling_is_size_doubling_and_preserves_constants():
    x = torch.full((1, 1, 4, 4), 2.0, dtype=torch.float64)
    y = ref.upfirdn2d(x, ref.fir_filter(), up=2, pad=(2, 1, 2, 1), gain=4)
    assert y.shape == (1, 1, 8, 8)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], torch.full((1, 1, 4, 4), 2.0, dtype=torch.float64))


def test_nvidia_up_padding_rule():
    # conv2d_resample, up=2, 3x3 kernel (padding 1), 4-tap filter
    assert ref.nvidia_up_padding(3, 4, 2) == (1 + (4 + 2 - 1) // 2, 1 + (4 - 2) // 2) == (3, 2)


def test_upsampling_conv_equals_transposed_conv_then_blur():
    """NVIDIA's zero-insert/pad(3,2)/filter/true-conv path == rosinality's conv_transpose + blur(1,1)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    weight = torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64)
    styles = torch.randn(2, 3, generator=g, dtype=torch.float64)
    got = ref.nvidia_modconv(x, weight, styles, demodulate=True, up=2)
    assert got.shape == (2, 5, 8, 8)
    for n in range(2):
        w = ref.modulate(weight, styles[n], True)
        y = F.conv_transpose2d(x[n:n + 1], w.transpose(0, 1), stride=2)
        y = ref.upfirdn2d(y, ref.fir_filter(), pad=(1, 1, 1, 1), gain=4)
        torch.testing.assert_close(got[n:n + 1], y, rtol=1e-12, atol=1e-12)
    # and it is NOT the cross-correlation variant (the weight orientation matters)
    flipped = ref.nvidia_modconv(x, weight.flip([2, 3]), styles, demodulate=True, up=2)
    assert (flipped - got).abs().max() > 1e-3


def test_demodulation_normalises_output_filters():
    g = torch.Generator().manual_seed(2)
    w = ref.modulate(torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64),
                     torch.randn(3, generator=g, dtype=torch.float64), True)
    torch.testing.assert_close(w.square().sum(dim=[1, 2, 3]), torch.ones(4, dtype=torch.float64))
