"""Perceptual distances: SSIM / MS-SSIM against an independent scipy float64 computation,
the registry, LPIPS's missing-weights message, and the toonfaces feature distance."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from editgan.errors import InputError, MissingWeightsError
from editgan.io.perceptual import get_perceptual
from editgan.nn.perceptual import ms_ssim, msssim_l1, ssim_components
from editgan.registry import PERCEPTUAL


def ssim_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Wang et al. 2004 on one [C, H, W] pair in [0, 1]: scipy Gaussian filter (sigma 1.5, radius 5),
    statistics kept where the 11x11 window fits, averaged over channels and positions."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(a):
        return np.stack([gaussian_filter(ch, 1.5, truncate=5 / 1.5, mode="constant") for ch in a])[:, 5:-5, 5:-5]

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
    return float((lum * cs).mean()), float(cs.mean())


def image_pair(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


def test_ssim_matches_scipy_reference():
    x, y = image_pair(size=24)
    ssim, cs = ssim_components(x, y)
    for i in range(len(x)):
        ref_ssim, ref_cs = ssim_reference(x[i].numpy(), y[i].numpy())
        assert ssim[i].item() == pytest.approx(ref_ssim, abs=1e-10)
        assert cs[i].item() == pytest.approx(ref_cs, abs=1e-10)
    assert 0 < ssim.min() < ssim.max() < 1


def test_ms_ssim_two_scales_at_32px():
    x, y = image_pair(size=32)
    weights = np.array([0.0448, 0.2856]) / (0.0448 + 0.2856)
    for i in range(len(x)):
        xi, yi = x[i].numpy(), y[i].numpy()
        _, cs0 = ssim_reference(xi, yi)
        pool = lambda a: a.reshape(3, 16, 2, 16, 2).mean(axis=(2, 4))  # noqa: E731
        ssim1, _ = ssim_reference(pool(xi), pool(yi))
        expected = cs0 ** weights[0] * ssim1 ** weights[1]
        assert ms_ssim(x[i:i + 1], y[i:i + 1]).item() == pytest.approx(expected, abs=1e-10)


def test_msssim_l1_properties():
    x, y = image_pair(size=32)
    a, b = (x * 2 - 1).float().requires_grad_(True), (y * 2 - 1).float()
    d = msssim_l1(a, b)
    assert d.shape == (2,) and (d > 0).all()
    assert torch.allclose(msssim_l1(b, b), torch.zeros(2), atol=1e-6)
    expected = 0.84 * (1 - ms_ssim((a + 1) / 2, (b + 1) / 2)) + 0.16 * ((a - b).abs() / 2).mean(dim=(1, 2, 3))
    assert torch.allclose(d, expected)
    d.sum().backward()
    assert a.grad.abs().sum() > 0
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16] = 1
    assert torch.allclose(msssim_l1(a, b, mask), msssim_l1(a * mask, b * mask))
    with pytest.raises(InputError, match="at least 11"):
        msssim_l1(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="mask"):
        msssim_l1(a, b, torch.ones(1, 1, 16, 16))


def test_registry():
    assert set(PERCEPTUAL.names()) >= {"lpips", "msssim_l1", "toon"}  # toon: registered by the toonfaces plug-in
    assert get_perceptual("msssim_l1") is msssim_l1
    with pytest.raises(InputError, match="lpips, msssim_l1, toon"):
        get_perceptual("vgg")


def test_lpips_missing_weights_pass_through(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITGAN_VGG16_WEIGHTS", str(tmp_path / "no-vgg.pth"))
    monkeypatch.setenv("EDITGAN_LPIPS_WEIGHTS", str(tmp_path / "no-heads.pth"))
    with pytest.raises(MissingWeightsError, match="no-vgg.pth"):
        get_perceptual("lpips")(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))


def test_lpips_wraps_the_loaded_model(tmp_path, monkeypatch):
    from test_lpips import heads_state, vgg16_state

    from editgan.io.lpips_weights import load_lpips

    torch.save(vgg16_state(), tmp_path / "vgg.pth")
    torch.save(heads_state(), tmp_path / "heads.pth")
    monkeypatch.setenv("EDITGAN_VGG16_WEIGHTS", str(tmp_path / "vgg.pth"))
    monkeypatch.setenv("EDITGAN_LPIPS_WEIGHTS", str(tmp_path / "heads.pth"))
    x, y = image_pair(size=32)
    a, b = (x * 2 - 1).float(), (y * 2 - 1).float()
    mask = torch.ones(1, 1, 32, 32)
    mask[..., 8:] = 0
    d = get_perceptual("lpips")(a, b, mask)
    assert d.shape == (2,) and torch.allclose(d, load_lpips()(a * mask, b * mask))


def test_toon_distance():
    toon = get_perceptual("toon")
    x, y = image_pair(size=32)
    a, b = (x * 2 - 1).float().requires_grad_(True), (y * 2 - 1).float()
    d = toon(a, b)
    assert d.shape == (2,) and (d > 0).all() and (d <= 4).all()
    assert torch.allclose(toon(b, b), torch.zeros(2), atol=1e-6)
    d.sum().backward()
    assert a.grad.abs().sum() > 0
