"""LPIPS-VGG: loading the published file layouts and parity with an independent float64 reference.

The files are written here in torchvision's VGG16 layout and the lpips package's v0.1 head layout
with random weights (He-scaled so activations stay O(1) through 13 layers). The reference below
is plain numpy float64 (convolution as nine shifted matmuls) on the raw state dicts.
"""

import numpy as np
import pytest
import torch

from editgan.errors import CheckpointError, InputError, MissingWeightsError
from editgan.io.lpips_weights import load_lpips

CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
         (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512),
         (26, 512, 512), (28, 512, 512)]
POOL_BEFORE = {5, 10, 17, 24}
TAP_AFTER = {2, 7, 14, 21, 28}
HEAD_CHANNELS = [64, 128, 256, 512, 512]


def vgg16_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, c_in, c_out in CONVS:
        sd[f"features.{i}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        sd[f"features.{i}.bias"] = torch.randn(c_out, generator=g) * 0.1
    # torchvision's file also holds the classifier (published shapes [4096, 25088], [4096, 4096],
    # [1000, 4096]); the loader ignores it, so tiny stand-ins keep the file small.
    for i in (0, 3, 6):
        sd[f"classifier.{i}.weight"] = torch.zeros(4, 8)
        sd[f"classifier.{i}.bias"] = torch.zeros(4)
    return sd


def heads_state(seed=1):
    g = torch.Generator().manual_seed(seed)
    return {f"lin{s}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for s, c in enumerate(HEAD_CHANNELS)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lpips")
    vgg, heads = vgg16_state(), heads_state()
    (root / "hub" / "checkpoints").mkdir(parents=True)
    (root / "lpips" / "weights" / "v0.1").mkdir(parents=True)
    torch.save(vgg, root / "hub" / "checkpoints" / "vgg16-397923af.pth")
    torch.save(heads, root / "lpips" / "weights" / "v0.1" / "vgg.pth")
    return root, vgg, heads


def paths(root):
    return root / "hub" / "checkpoints" / "vgg16-397923af.pth", root / "lpips" / "weights" / "v0.1" / "vgg.pth"


@pytest.fixture(scope="module")
def model(files):
    return load_lpips(*paths(files[0]))


def reference_lpips(x, y, vgg, heads):
    """Float64 numpy LPIPS: x, y [N, 3, H, W] arrays in [-1, 1] -> [N]."""
    shift = np.array([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
    scale = np.array([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)

    def features(img):
        a = ((img - shift) / scale).transpose(0, 2, 3, 1)  # NHWC
        taps = []
        for i, _, c_out in CONVS:
            if i in POOL_BEFORE:
                n, h, w, c = a.shape
                a = a[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
            wt = vgg[f"features.{i}.weight"].double().numpy()
            b = vgg[f"features.{i}.bias"].double().numpy()
            n, h, w, _ = a.shape
            p = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
            out = np.zeros((n, h, w, c_out)) + b
            for dy in range(3):
                for dx in range(3):
                    out += p[:, dy:dy + h, dx:dx + w] @ wt[:, :, dy, dx].T
            a = np.maximum(out, 0)
            if i in TAP_AFTER:
                taps.append(a)
        return taps

    total = np.zeros(x.shape[0])
    for s, (fx, fy) in enumerate(zip(features(x), features(y))):
        ux = fx / (np.sqrt((fx ** 2).sum(-1, keepdims=True)) + 1e-10)
        uy = fy / (np.sqrt((fy ** 2).sum(-1, keepdims=True)) + 1e-10)
        wl = heads[f"lin{s}.model.1.weight"].double().numpy().reshape(-1)
        total += (((ux - uy) ** 2) @ wl).mean(axis=(1, 2))
    return total


def images(n=2, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, h, w, generator=g) * 2 - 1), (torch.rand(n, 3, h, w, generator=g) * 2 - 1)


def test_matches_float64_reference(model, files):
    _, vgg, heads = files
    x, y = images(2, 32, 40)
    ours = model(x, y)
    ref = reference_lpips(x.double().numpy(), y.double().numpy(), vgg, heads)
    assert ours.shape == (2,)
    assert ref.min() > 0.01
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-5)


def test_cache_locations_are_found(files, monkeypatch):
    root, vgg, heads = files
    monkeypatch.setenv("TORCH_HOME", str(root))
    monkeypatch.delenv("EDITGAN_VGG16_WEIGHTS", raising=False)
    monkeypatch.delenv("EDITGAN_LPIPS_WEIGHTS", raising=False)
    monkeypatch.syspath_prepend(str(root))  # an installed `lpips` package holding weights/v0.1/vgg.pth
    (root / "lpips" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    m = load_lpips()
    assert torch.equal(m.net.features["28"].weight, vgg["features.28.weight"])
    assert torch.equal(m.lin4, heads["lin4.model.1.weight"])


def test_env_vars_are_used(files, tmp_path, monkeypatch):
    root, _, heads = files
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("EDITGAN_VGG16_WEIGHTS", str(root / "hub" / "checkpoints" / "vgg16-397923af.pth"))
    monkeypatch.setenv("EDITGAN_LPIPS_WEIGHTS", str(root / "lpips" / "weights" / "v0.1" / "vgg.pth"))
    assert torch.equal(load_lpips().lin0, heads["lin0.model.1.weight"])


def test_missing_files_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("EDITGAN_VGG16_WEIGHTS", raising=False)
    monkeypatch.delenv("EDITGAN_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        load_lpips()
    message = str(err.value)
    assert "vgg16-397923af.pth" in message and "vgg.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_missing_explicit_head_file_named(files, tmp_path):
    root, _, _ = files
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        load_lpips(root / "hub" / "checkpoints" / "vgg16-397923af.pth", tmp_path / "nowhere.pth")


@pytest.mark.parametrize("which", ["vgg", "heads"])
def test_wrong_shapes_are_checkpoint_errors(files, tmp_path, which):
    root, vgg, heads = files
    vgg_path, heads_path = paths(root)
    if which == "vgg":
        vgg_path = tmp_path / "vgg16.pth"
        torch.save({**vgg, "features.7.weight": torch.zeros(128, 64, 3, 3)}, vgg_path)
        key = "features.7.weight"
    else:
        heads_path = tmp_path / "vgg.pth"
        torch.save({**heads, "lin2.model.1.weight": torch.zeros(1, 128, 1, 1)}, heads_path)
        key = "lin2.model.1.weight"
    with pytest.raises(CheckpointError, match=key):
        load_lpips(vgg_path, heads_path)


def test_malformed_files_are_checkpoint_errors(files, tmp_path):
    root, _, heads = files
    vgg_path = root / "hub" / "checkpoints" / "vgg16-397923af.pth"
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_lpips(vgg_path, bad)
    torch.save({k: v for k, v in heads.items() if not k.startswith("lin3")}, bad)
    with pytest.raises(CheckpointError, match="lin3.model.1.weight"):
        load_lpips(vgg_path, bad)
    torch.save({**heads, "lin0.model.1.weight": -heads["lin0.model.1.weight"]}, bad)
    with pytest.raises(CheckpointError, match="negative"):
        load_lpips(vgg_path, bad)


def test_identical_images_give_zero(model):
    x, _ = images(3)
    assert torch.all(model(x, x.clone()).abs() < 1e-7)


def test_gradient_reaches_input_not_weights(model):
    x, y = images(1)
    x.requires_grad_(True)
    model(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())


def test_mask_equals_premultiplied_images(model):
    x, y = images(2, seed=5)
    mask = torch.ones(2, 1, 32, 32)
    mask[0, :, 8:20, 4:30] = 0
    mask[1, :, :, 16:] = 0
    masked = model(x, y, mask)
    torch.testing.assert_close(masked, model(x * mask, y * mask), rtol=1e-6, atol=1e-8)
    assert not torch.allclose(masked, model(x, y))
    # differences only inside the masked-out area do not count
    y_in = torch.where(mask.bool(), x, y)
    assert torch.all(model(x, y_in, mask).abs() < 1e-7)


def test_bad_inputs(model):
    x, y = images(1)
    with pytest.raises(InputError):
        model(x, y[:, :2])
    with pytest.raises(InputError):
        model(x[..., :8, :8], y[..., :8, :8])
    with pytest.raises(InputError):
        model(x, y, torch.ones(1, 3, 32, 32))
