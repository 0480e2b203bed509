"""Generator API: shapes, feature maps, truncation, noise, crop, fused/non-fused, gradients."""

import pytest
import torch

from editgan.errors import ConfigError, InputError
from editgan.nn.config import GeneratorConfig, channels_for
from editgan.nn.discriminator import Discriminator, DiscriminatorConfig, minibatch_stddev
from conftest import TINY, make_tiny_generator


def test_config_counts_and_feature_shapes():
    cfg = GeneratorConfig(resolution=1024)
    assert cfg.num_ws == 18 and cfg.num_layers == 17
    assert cfg.channels == channels_for(1024) and cfg.channels[1024] == 32 and cfg.channels[64] == 512
    assert cfg.feature_shapes()[:3] == [(512, 4), (512, 8), (512, 8)] and cfg.feature_shapes()[-1] == (32, 1024)
    assert GeneratorConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("bad", [dict(resolution=48), dict(channels={4: 8}), dict(crop=(0, 0, 40, 32)),
                                 dict(w_dim=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        GeneratorConfig(**{**TINY, **bad})


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError):
        GeneratorConfig.from_json({**TINY, "bogus": 1})


def test_synthesis_shapes_and_features(tiny_generator):
    g = tiny_generator
    ws = g.z_to_wplus(g.sample_z(2, seed=0))
    img, feats = g.synthesis(ws, return_features=True)
    assert img.shape == (2, 3, 32, 32) and ws.shape == (2, g.num_ws, 16)
    assert [(f.shape[1], f.shape[2]) for f in feats] == g.config.feature_shapes()
    assert torch.equal(g.synthesis(ws), img)  # features cost nothing and change nothing


def test_fused_and_nonfused_agree(tiny_generator):
    g = tiny_generator
    ws = g.z_to_wplus(g.sample_z(3, seed=1))
    a, b = g.synthesis(ws, fused=True), g.synthesis(ws, fused=False)
    assert torch.allclose(a, b, atol=1e-5)


def test_seed_determinism_and_truncation(tiny_generator):
    g = tiny_generator
    assert torch.equal(g.sample_z(2, seed=5), g.sample_z(2, seed=5))
    w = g.mapping(g.sample_z(4, seed=2))
    assert torch.allclose(g.truncate(w, 0.0), g.w_avg.expand(4, -1))
    assert torch.allclose(g.truncate(w, 0.5), g.w_avg + 0.5 * (w - g.w_avg))
    wp = g.broadcast(w)
    cut = g.truncate(wp, 0.0, cutoff=3)
    assert torch.allclose(cut[:, :3], g.w_avg.expand(4, 3, -1)) and torch.equal(cut[:, 3:], wp[:, 3:])
    assert torch.equal(g.synthesize(w), g.synthesis(wp))


def test_noise_modes_and_user_noise(tiny_generator):
    g = tiny_generator
    ws = g.z_to_wplus(g.sample_z(1, seed=0))
    const1, const2 = g.synthesis(ws, noise_mode="const"), g.synthesis(ws, noise_mode="const")
    assert torch.equal(const1, const2)
    torch.manual_seed(0)
    r1 = g.synthesis(ws, noise_mode="random")
    r2 = g.synthesis(ws, noise_mode="random")
    assert not torch.allclose(r1, r2)
    none = g.synthesis(ws, noise_mode="none")
    zeros = [torch.zeros(1, 1, r, r) for _, r in g.config.feature_shapes()]
    assert torch.allclose(g.synthesis(ws, noise=zeros), none)
    layers = [layer for block in g.synthesis.blocks() for layer in block.layers()]
    consts = [layer.noise_const.reshape(1, 1, *layer.noise_const.shape) for layer in layers]
    assert torch.allclose(g.synthesis(ws, noise=consts), const1, atol=1e-6)
    with pytest.raises(InputError):
        g.synthesis(ws, noise_mode="loud")
    with pytest.raises(InputError):
        g.synthesis(ws, noise=zeros[:-1])


def test_crop_keeps_content_window():
    g = make_tiny_generator(crop=(4, 0, 24, 32))
    full = make_tiny_generator()
    ws = g.z_to_wplus(g.sample_z(1, seed=0))
    img = g.synthesis(ws)
    assert img.shape == (1, 3, 24, 32)
    assert torch.equal(img, full.synthesis(ws)[:, :, 4:28, :])


def test_bad_shapes_raise(tiny_generator):
    g = tiny_generator
    with pytest.raises(InputError):
        g.mapping(torch.zeros(2, 5))
    with pytest.raises(InputError):
        g.synthesis(torch.zeros(1, g.num_ws - 1, 16))
    with pytest.raises(InputError):
        g.broadcast(torch.zeros(1, 3, 16))


@pytest.mark.parametrize("fused", [True, False])
def test_gradients_wrt_wplus_float64(fused):
    g = make_tiny_generator(resolution=16, channels={4: 8, 8: 8, 16: 4}).double()
    ws = g.z_to_wplus(g.sample_z(1, seed=3).double()).detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: g.synthesis(w, fused=fused).square().mean(), (ws,), eps=1e-6,
                                    atol=1e-6)


def test_training_mode_w_avg_update(tiny_generator):
    g = tiny_generator
    w = torch.randn(8, 16)
    before = g.w_avg.clone()
    g.mapping.update_w_avg(w, beta=0.9)
    assert torch.allclose(g.w_avg, before * 0.9 + w.mean(0) * 0.1, atol=1e-6)


def test_minibatch_stddev_reference():
    x = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    y = minibatch_stddev(x, group_size=3)
    assert y.shape == (6, 5, 3, 3)
    for i in range(6):
        members = [j for j in range(6) if j % 2 == i % 2]  # groups interleave: reshape(G, n, ...)
        std = x[members].std(dim=0, unbiased=False).add(0).square().add(1e-8).sqrt().mean()
        assert torch.allclose(y[i, 4], std.expand(3, 3))
    assert minibatch_stddev(torch.randn(5, 4, 2, 2)).shape == (5, 5, 2, 2)  # 5: group size 1


def test_discriminator_shapes_and_gradient():
    d = Discriminator(DiscriminatorConfig(resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 8}))
    img = torch.randn(4, 3, 32, 32, requires_grad=True)
    out = d(img)
    assert out.shape == (4, 1)
    out.sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()
    with pytest.raises(InputError):
        d(torch.randn(1, 3, 16, 16))


def test_bf16_synthesis_and_discriminator_track_float32(tiny_generator):
    """Mixed precision (bf16 activations, float32 weights): image and logits within bf16 rounding,
    image accumulated in float32, and gradients still reach the float32 parameters."""
    g = tiny_generator
    ws = g.z_to_wplus(g.sample_z(4, seed=1))
    ref = g.synthesis(ws, noise_mode="const")
    img = g.synthesis(ws, noise_mode="const", dtype=torch.bfloat16)
    assert img.dtype == torch.float32 and (img - ref).abs().max() / ref.abs().max() < 3e-2
    d = Discriminator(DiscriminatorConfig(resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 8}))
    logits_ref, logits = d(ref), d(ref, dtype=torch.bfloat16)
    assert logits.dtype == torch.float32 and (logits - logits_ref).abs().max() < 3e-2 * logits_ref.abs().max() + 1e-2
    d(ref, dtype=torch.bfloat16).sum().backward()
    grad = d.b32.conv0.weight.grad
    assert grad is not None and grad.dtype == torch.float32 and torch.isfinite(grad).all()


def test_frozen_synthesis_traces_as_one_graph(tiny_generator):
    """torch.compile can take the whole synthesis (bench/compile_synthesis.py): dynamo traces it without a
    graph break while the weights are frozen (the prepared-weight cache steps aside), and the traced
    function computes what eager does, forward and gradient to w+."""
    g = tiny_generator
    flags = [p.requires_grad for p in g.parameters()]
    g.requires_grad_(False)
    try:
        w = g.z_to_wplus(g.sample_z(1, seed=2)).detach()
        g.synthesis(w, dtype=torch.bfloat16)  # fills the eager cache the trace must not read
        torch._dynamo.reset()
        traced = torch.compile(lambda x: g.synthesis(x, noise_mode="const", dtype=torch.bfloat16),
                               backend="eager", fullgraph=True, dynamic=False)
        for fn in (traced, lambda x: g.synthesis(x, noise_mode="const", dtype=torch.bfloat16)):
            delta = torch.zeros_like(w, requires_grad=True)
            image = fn(w + delta)
            grad = torch.autograd.grad(image.square().mean(), delta)[0]
            if fn is traced:
                traced_image, traced_grad = image, grad
        assert torch.equal(traced_image, image) and torch.allclose(traced_grad, grad, rtol=1e-3, atol=1e-6)
    finally:
        for p, flag in zip(g.parameters(), flags):
            p.requires_grad_(flag)
        torch._dynamo.reset()
