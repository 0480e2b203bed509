"""Segmenter math: the factorised paths against the naive concatenation (float64 referee)."""

import math

import pytest
import torch
import torch.nn.functional as F

from editgan.errors import ConfigError, InputError
from editgan.nn.resample import axis_taps, gather_pixels, resample_axis
from editgan.nn.segmenter import Segmenter, ensemble, segmentation_features
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_reference import forward_naive

torch.set_num_threads(1)


def randomise(seg: Segmenter, seed: int = 0) -> Segmenter:
    """Non-trivial weights and BatchNorm statistics, so every term of the MLP matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(seg.parameters()) + [seg.bn1_mean, seg.bn2_mean]:
            t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype) * 0.3)
        for t in (seg.bn1_var, seg.bn2_var):
            t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5)
    return seg.eval()


def random_features(config: SegmenterConfig, n: int = 2, seed: int = 1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, r, r, generator=gen, dtype=dtype) for c, r in config.feature_shapes]


SHAPES = [(6, 4), (5, 4), (4, 8), (3, 16), (3, 16), (2, 32)]


@pytest.mark.parametrize("out, size", [(32, 4), (32, 32), (16, 32), (7, 3), (13, 5)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_axis_taps_reproduce_interpolate(out, size, mode):
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    ref = F.interpolate(x, size=(out, out), mode=mode, **kwargs)
    taps = axis_taps(out, size, mode)
    ours = resample_axis(resample_axis(x, 2, taps), 3, taps)
    assert torch.allclose(ours, ref, atol=1e-12)
    ys, xs = torch.randint(0, out, (50,)), torch.randint(0, out, (50,))
    batch = torch.randint(0, 2, (50,))
    picked = gather_pixels(x, taps.take(ys), taps.take(xs), batch)
    assert torch.allclose(picked, ref[batch, :, ys, xs], atol=1e-12)


@pytest.mark.parametrize("n, s", [(1, 4), (4, 1), (4, 2), (5, 8), (64, 2)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_accumulate_upsampled_reproduces_interpolate(n, s, mode):
    from editgan.nn.resample import accumulate_upsampled
    x = torch.randn(2, n, 3, dtype=torch.float64)
    acc = torch.randn(2, n * s, 3, dtype=torch.float64)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    ref = acc + F.interpolate(x.transpose(1, 2), size=n * s, mode="linear" if mode == "bilinear" else mode,
                              **kwargs).transpose(1, 2)
    accumulate_upsampled(acc, x, 1, mode)
    assert torch.allclose(acc, ref, atol=1e-12)


def test_axis_taps_match_upsample_module_by_scale_factor():
    """DatasetGAN builds nn.Upsample(scale_factor=res / r, mode='bilinear')."""
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    ref = torch.nn.Upsample(scale_factor=64 / 8, mode="bilinear")(x)
    taps = axis_taps(64, 8, "bilinear")
    assert torch.allclose(resample_axis(resample_axis(x, 2, taps), 3, taps), ref, atol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop", [None, (3, 5, 20, 25)])
@pytest.mark.parametrize("rows_per_tile", [None, 1, 7])
@pytest.mark.parametrize("members", [1, 3])  # one member: the pixel-major path of the display segmenter
def test_factorised_full_image_equals_naive(mode, crop, rows_per_tile, members):
    cfg = SegmenterConfig(num_classes=5, feature_shapes=SHAPES, out_resolution=32, num_members=members,
                          interpolation=mode, crop=crop)
    seg = randomise(Segmenter(cfg).double())
    feats = random_features(cfg)
    ref = forward_naive(seg, feats)
    ours = seg.member_logits(feats, rows_per_tile=rows_per_tile)
    assert ours.shape == (2, members, 5, *cfg.out_size)
    assert ref.abs().max() > 1
    assert (ours - ref).abs().max() < 1e-10


def test_factorised_float32_within_1e4_of_float64_naive_at_32_classes():
    cfg = SegmenterConfig(num_classes=32, feature_shapes=[(64, 4), (64, 8), (32, 16), (16, 32), (16, 64)],
                          out_resolution=64, num_members=2, crop=(0, 0, 24, 64))
    assert cfg.hidden == (256, 128)
    seg64 = randomise(Segmenter(cfg).double())
    seg32 = Segmenter(cfg)
    seg32.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in seg64.state_dict().items()})
    seg32.eval()
    feats = random_features(cfg, n=1)
    ref = forward_naive(seg64, feats)
    ours = seg32.member_logits([f.float() for f in feats])
    assert (ours.double() - ref).abs().max() < 1e-4


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("kind", ["mask", "shared", "per_sample", "block", "all"])
@pytest.mark.parametrize("members", [1, 2])
def test_pixel_subsets_equal_naive(kind, mode, members):
    cfg = SegmenterConfig(num_classes=4, feature_shapes=SHAPES, out_resolution=32, num_members=members,
                          crop=(0, 2, 30, 28), interpolation=mode)
    seg = randomise(Segmenter(cfg).double(), seed=3)
    feats = random_features(cfg)
    h, w = cfg.out_size
    gen = torch.Generator().manual_seed(5)
    if kind == "mask":
        pixels = torch.rand(h, w, generator=gen) < 0.1
    elif kind == "shared":
        pixels = torch.randint(0, h * w, (40,), generator=gen)
    elif kind == "block":  # an edit region
        pixels = torch.zeros(h, w, dtype=torch.bool)
        pixels[5:20, 3:18] = True
        pixels[12, 3:10] = False
    elif kind == "per_sample":
        pixels = torch.randint(0, h * w, (2, 9), generator=gen)  # few pixels: features resampled first
    else:
        pixels = torch.ones(h, w, dtype=torch.bool)  # all pixels: the coarse maps projected first
    ref = forward_naive(seg, feats, pixels)
    ours = seg.member_logits(feats, pixels)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() < 1e-10
    if kind == "all":
        assert torch.allclose(ours.view(2, members, 4, h, w), seg.member_logits(feats), atol=1e-10)


def test_predict_is_the_ensemble_of_member_logits():
    cfg = SegmenterConfig(num_classes=4, feature_shapes=SHAPES, out_resolution=32, num_members=3)
    seg = randomise(Segmenter(cfg).double())
    feats = random_features(cfg)
    logits = forward_naive(seg, feats)
    result = seg.predict(feats, rows_per_tile=5)
    probs = torch.softmax(logits, 2)
    assert torch.allclose(result.probs, probs.mean(1), atol=1e-10)
    assert torch.equal(result.labels, probs.mean(1).argmax(1))
    def entropy(p):
        return -(p * p.log()).sum(-3)
    js = entropy(probs.mean(1)) - entropy(probs).mean(1)
    assert torch.allclose(result.uncertainty, js, atol=1e-10)
    pix = torch.tensor([0, 100, 1023])
    sub = seg.predict(feats, pix)
    assert torch.allclose(sub.probs, result.probs.flatten(2)[:, :, pix], atol=1e-10)


def test_one_member_ensemble_is_its_softmax_with_zero_uncertainty():
    logits = torch.randn(2, 1, 5, 3, 4, dtype=torch.float64)
    one = ensemble(logits)
    two = ensemble(logits.expand(-1, 2, -1, -1, -1))  # the general formula on two identical members
    assert torch.allclose(one.probs, two.probs, atol=1e-12) and torch.equal(one.labels, two.labels)
    assert not one.uncertainty.any() and two.uncertainty.abs().max() < 1e-12
    assert one.uncertainty.shape == two.uncertainty.shape == (2, 3, 4)


def test_ensemble_uncertainty_known_values():
    agree = torch.tensor([[2.0, 0.0], [2.0, 0.0]])[None, :, :, None]  # [1, M=2, K=2, 1]
    assert ensemble(agree).uncertainty.abs().max() < 1e-7
    big = 50.0
    disagree = torch.tensor([[big, -big], [-big, big]])[None, :, :, None]
    assert ensemble(disagree).uncertainty.item() == pytest.approx(math.log(2), abs=1e-6)


@pytest.mark.parametrize("members", [1, 3])
def test_pixel_major_tail_equals_member_major_tail_with_gradients(members):
    """The strided member-batched tail (what inference runs) against `tail` on a member-major copy."""
    cfg = SegmenterConfig(num_classes=5, feature_shapes=SHAPES, out_resolution=32, num_members=members,
                          hidden=(8, 4))
    seg = randomise(Segmenter(cfg).double())
    z1 = torch.randn(37, members * 8, dtype=torch.float64, requires_grad=True)
    ours = seg.tail_pixel_major(z1)  # [M, L, K]
    ref = seg.tail(z1.view(37, members, 8).permute(1, 2, 0)).transpose(1, 2)  # [M, H1, L] -> [M, L, K]
    assert ours.shape == (members, 37, 5)
    assert torch.allclose(ours, ref, atol=1e-12)
    probe = torch.randn_like(ours)
    assert torch.allclose(torch.autograd.grad((ours * probe).sum(), z1)[0],
                          torch.autograd.grad((ref * probe).sum(), z1)[0], atol=1e-12)
    with pytest.raises(InputError, match=rf"pre-activations must be \[L, {members * 8}\]"):
        seg.tail_pixel_major(z1[:, :-1])
    with pytest.raises(InputError, match="eval-mode"):
        seg.train().tail_pixel_major(z1)


def test_train_mode_matches_torch_batchnorm_mlp():
    """Real BatchNorm in training mode: against nn.Sequential per member, running stats included."""
    cfg = SegmenterConfig(num_classes=3, feature_shapes=[(10, 4)], out_resolution=8, num_members=2)
    seg = randomise(Segmenter(cfg).double()).train()
    x = torch.randn(2, 17, 10, dtype=torch.float64)
    ours = seg.logits_from_vectors(x)
    for m in range(2):
        h1, h2 = cfg.hidden
        ref = torch.nn.Sequential(torch.nn.Linear(10, h1), torch.nn.ReLU(), torch.nn.BatchNorm1d(h1),
                                  torch.nn.Linear(h1, h2), torch.nn.ReLU(), torch.nn.BatchNorm1d(h2),
                                  torch.nn.Linear(h2, 3)).double()
        with torch.no_grad():
            for i, name in ((0, "1"), (3, "2"), (6, "3")):
                ref[i].weight.copy_(getattr(seg, "w" + name)[m])
                ref[i].bias.copy_(getattr(seg, "b" + name)[m])
            for i, name in ((2, "1"), (5, "2")):
                ref[i].weight.copy_(getattr(seg, f"bn{name}_weight")[m])
                ref[i].bias.copy_(getattr(seg, f"bn{name}_bias")[m])
        ref.train()
        out = ref(x[m])
        assert torch.allclose(ours[m].T, out, atol=1e-10)
    assert torch.equal(seg.bn1_count, torch.ones(2, dtype=torch.long))


def test_train_mode_running_stats_update_like_torch():
    cfg = SegmenterConfig(num_classes=3, feature_shapes=[(10, 4)], out_resolution=8, num_members=1)
    seg = Segmenter(cfg).double().train()
    ref_bn = torch.nn.BatchNorm1d(cfg.hidden[0]).double()
    x = torch.randn(1, 33, 10, dtype=torch.float64)
    seg.logits_from_vectors(x)
    ref_bn(F.relu(x[0] @ seg.w1[0].T + seg.b1[0]))
    assert torch.allclose(seg.bn1_mean[0], ref_bn.running_mean, atol=1e-12)
    assert torch.allclose(seg.bn1_var[0], ref_bn.running_var, atol=1e-12)


def test_gradients_to_wplus_agree_naive_vs_factorised(tiny_generator):
    g = tiny_generator
    cfg = SegmenterConfig.for_generator(g.config, 4, num_members=3)
    assert cfg.feature_shapes[0] == (g.config.channels[4], 4)
    seg = randomise(Segmenter(cfg), seed=7)
    base = g.z_to_wplus(g.sample_z(1, seed=3))
    region = torch.zeros(32, 32, dtype=torch.bool)
    region[8:20, 10:24] = True
    target = torch.randint(0, 4, (int(region.sum()),), generator=torch.Generator().manual_seed(0))
    grads = []
    for path in ("naive", "factorised"):
        w = base.clone().requires_grad_(True)
        _, feats = segmentation_features(g, w, cfg)
        logits = forward_naive(seg, feats, region) if path == "naive" else seg.member_logits(feats, region)
        loss = F.cross_entropy(logits[0].permute(2, 0, 1).reshape(-1, 4), target.repeat_interleave(3))
        loss.backward()
        grads.append(w.grad)
    assert grads[0].abs().max() > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_gradcheck_factorised_float64():
    cfg = SegmenterConfig(num_classes=3, feature_shapes=[(2, 2), (2, 4), (1, 8)], out_resolution=8,
                          num_members=2, hidden=(4, 3), crop=(1, 0, 6, 8))
    seg = randomise(Segmenter(cfg).double())
    feats = [f.requires_grad_(True) for f in random_features(cfg, n=1)]
    pix = torch.tensor([0, 5, 17, 40])
    assert torch.autograd.gradcheck(lambda *f: seg.member_logits(list(f)), feats)
    assert torch.autograd.gradcheck(lambda *f: seg.member_logits(list(f), pix), feats)
    block = torch.tensor([r * 8 + c for r in range(1, 4) for c in range(2, 6)])  # the coarsest map projected first
    scattered = torch.tensor([0, 7, 40, 47, 20, 3, 44, 30])
    for pixels in (block, scattered):
        assert torch.autograd.gradcheck(lambda *f: seg.member_logits(list(f), pixels), feats)


def test_segmentation_features_layers_and_const(tiny_generator):
    g = tiny_generator
    cfg = SegmenterConfig.for_generator(g.config, 3, include_const=False, layers=[0, 3, 6], num_members=1)
    assert cfg.feature_shapes == [g.config.feature_shapes()[k] for k in (0, 3, 6)]
    w = g.z_to_wplus(g.sample_z(2, seed=0))
    img, feats = segmentation_features(g, w, cfg)
    _, all_feats = g.synthesis(w, return_features=True)
    assert all(torch.equal(a, all_feats[k]) for a, k in zip(feats, (0, 3, 6)))
    with_const = SegmenterConfig.for_generator(g.config, 3, num_members=1)
    _, feats = segmentation_features(g, w, with_const)
    assert torch.equal(feats[0][1], g.synthesis.b4.const)
    assert with_const.in_features == g.config.channels[4] + sum(c for c, _ in g.config.feature_shapes())


def test_car_configuration_has_6016_channels():
    from editgan.nn.config import GeneratorConfig
    car = GeneratorConfig(resolution=512, crop=(64, 0, 384, 512))
    cfg = SegmenterConfig.for_generator(car, 32)
    assert cfg.in_features == 6016 and cfg.hidden == (256, 128) and cfg.out_size == (384, 512)
    assert SegmenterConfig.for_generator(car, 32, include_const=False).in_features == 5504


def test_bad_inputs_raise_clear_errors():
    cfg = SegmenterConfig(num_classes=3, feature_shapes=SHAPES, out_resolution=32, num_members=1)
    seg = Segmenter(cfg).eval()
    feats = random_features(cfg, dtype=torch.float32)
    with pytest.raises(InputError, match="expects 6 feature maps"):
        seg.member_logits(feats[:-1])
    with pytest.raises(InputError, match="pixel indices"):
        seg.member_logits(feats, torch.tensor([32 * 32]))
    with pytest.raises(InputError, match="mask must be"):
        seg.member_logits(feats, torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(InputError, match="eval mode"):
        seg.train().member_logits(feats)
    with pytest.raises(ConfigError, match="interpolation"):
        SegmenterConfig(num_classes=3, feature_shapes=SHAPES, out_resolution=32, interpolation="bicubic")
    with pytest.raises(ConfigError, match="crop"):
        SegmenterConfig(num_classes=3, feature_shapes=SHAPES, out_resolution=32, crop=(0, 0, 33, 8))
    with pytest.raises(ConfigError, match="unknown segmenter config keys"):
        SegmenterConfig.from_json({**cfg.to_json(), "extra": 1})
    assert SegmenterConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop", [(10, 6, 100, 120), (10, 0, 100, 128)])
def test_tiled_projection_exact_with_gradients(mode, crop):
    """Maps projected per tile (64, 128) and once (4); columns by gathers (column crop) or by
    strided phases (full width)."""
    cfg = SegmenterConfig(num_classes=3, feature_shapes=[(2, 4), (3, 64), (2, 128)], out_resolution=128,
                          num_members=2, hidden=(5, 4), interpolation=mode, crop=crop)
    seg = randomise(Segmenter(cfg).double())
    feats = [f.requires_grad_(True) for f in random_features(cfg, n=1)]
    ours = seg.member_logits(feats, rows_per_tile=9)
    ref = forward_naive(seg, feats)
    assert (ours - ref).abs().max() < 1e-10
    weight = torch.randn(ref.shape, dtype=torch.float64)
    g_ours = torch.autograd.grad((ours * weight).sum(), feats)
    g_ref = torch.autograd.grad((ref * weight).sum(), feats)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(g_ours, g_ref))
