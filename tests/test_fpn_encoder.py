"""The EditGAN release's FPN encoder: its layout at full size, the reader against a float64
functional reference, hostile files, and its use as a bundle's encoder (embed init, train --init)."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import make_tiny_generator
from editgan.bundle import open_bundle, write_bundle
from editgan.cli import main
from editgan.editor import Editor
from editgan.errors import CheckpointError, ConfigError, InputError
from editgan.inversion.optimize import encode
from editgan.io.editgan_encoder import load_editgan_encoder, official_key
from editgan.io.encoder_files import load_encoder
from editgan.nn.fpn_encoder import FPNEncoder, FPNEncoderConfig
from editgan_release_layouts import editgan_encoder_shapes, editgan_encoder_state, write_editgan_encoder

SMALL = dict(base_width=4, num_ws=10, w_dim=8, resolution=64, fpn_channels=12)


def test_release_layout_at_full_size_matches_our_module():
    shapes = editgan_encoder_shapes()  # base 64, 16 x 512, 512 px: the car release
    assert len(shapes) == 568
    assert sum(math.prod(s) for s in shapes.values()) == 277_511_669  # "277.5M values"
    with torch.device("meta"):
        net = FPNEncoder(FPNEncoderConfig())
    ours = {official_key(k, (3, 4)): tuple(v.shape) for k, v in net.state_dict().items()}
    assert ours == dict(shapes)


def bn(x, s, p):
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"],
                        training=False, eps=1e-5)


def conv(x, s, p, stride=1, padding=0):
    return F.conv2d(x, s[f"{p}.weight"], s.get(f"{p}.bias"), stride, padding)


def up2(x):
    """Bilinear x2 with half-pixel centres (align_corners=False), edge samples clamped, by index."""
    for axis in (-2, -1):
        n = x.shape[axis]
        src = ((torch.arange(2 * n, dtype=torch.float64) + 0.5) / 2 - 0.5).clamp(min=0)
        i0 = src.floor().long()
        frac = src - i0
        i1 = (i0 + 1).clamp(max=n - 1)
        shape = [-1, 1] if axis == -2 else [-1]
        x = x.index_select(axis, i0) * (1 - frac).view(shape) + x.index_select(axis, i1) * frac.view(shape)
    return x


def reference(state, x, groups=(3, 4)):
    """The release's FPNEncoder forward, written from its published description, in float64."""
    s = {k: v.double() for k, v in state.items()}
    h = F.max_pool2d(F.relu(bn(conv(x.double(), s, "FPN_module.conv1", 2, 3), s, "FPN_module.bn1")), 3, 2, 1)
    cs = []
    for k in range(1, 5):
        b = 0
        while f"FPN_module.layer{k}.{b}.conv1.weight" in s:
            p = f"FPN_module.layer{k}.{b}"
            out = F.relu(bn(conv(h, s, f"{p}.conv1"), s, f"{p}.bn1"))
            out = F.relu(bn(conv(out, s, f"{p}.conv2", 2 if b == 0 and k > 1 else 1, 1), s, f"{p}.bn2"))
            out = bn(conv(out, s, f"{p}.conv3"), s, f"{p}.bn3")
            short = h
            if f"{p}.shortcut.0.weight" in s:
                short = bn(conv(h, s, f"{p}.shortcut.0", 2 if k > 1 else 1), s, f"{p}.shortcut.1")
            h = F.relu(out + short)
            b += 1
        cs.append(h)
    p5 = conv(cs[3], s, "FPN_module.toplayer")
    p4 = up2(p5) + conv(cs[2], s, "FPN_module.latlayer1")
    p3 = up2(p4) + conv(cs[1], s, "FPN_module.latlayer2")
    p2 = up2(p3) + conv(cs[0], s, "FPN_module.latlayer3")
    feats = {"course_styles": conv(p4, s, "FPN_module.smooth1", 1, 1),
             "medium_styles": conv(p3, s, "FPN_module.smooth2", 1, 1),
             "fine_styles": conv(p2, s, "FPN_module.smooth3", 1, 1)}
    codes = []
    for group, feat in feats.items():
        i = 0
        while f"{group}.{i}.linear.weight" in s:
            y, j = feat, 0
            while f"{group}.{i}.convs.{j}.weight" in s:
                y = F.leaky_relu(conv(y, s, f"{group}.{i}.convs.{j}", 2, 1), 0.01)
                j += 2
            assert y.shape[-2:] == (1, 1)
            codes.append(F.linear(y.flatten(1), s[f"{group}.{i}.linear.weight"], s[f"{group}.{i}.linear.bias"]))
            i += 1
    return torch.stack(codes, dim=1)


@pytest.mark.parametrize("shape", [SMALL, dict(base_width=2, num_ws=16, w_dim=4, resolution=512)],
                         ids=["64px-10codes", "release-512px-16codes"])
def test_reader_matches_float64_reference(tmp_path, shape):
    state = editgan_encoder_state(seed=3, **shape)
    write_editgan_encoder(tmp_path / "enc.pth", state, prefix="module.")  # DataParallel-saved
    E = load_editgan_encoder(tmp_path / "enc.pth")
    cfg = E.config
    assert (cfg.resolution, cfg.num_ws, cfg.w_dim, cfg.base_width, cfg.fpn_channels, cfg.depths, cfg.groups) == \
        (shape["resolution"], shape["num_ws"], shape["w_dim"], shape["base_width"],
         shape.get("fpn_channels", shape["w_dim"]), (3, 4, 6, 3), (3, 4))
    assert not E.training and not any(p.requires_grad for p in E.parameters())
    r, n = cfg.resolution, 2 if cfg.resolution < 512 else 1
    x = torch.rand(n, 3, r, r, generator=torch.Generator().manual_seed(0)) * 2 - 1
    got, want = E(x), reference(state, x)
    assert got.shape == (n, cfg.num_ws, cfg.w_dim) and want.abs().max() > 0.1
    assert (got.double() - want).abs().max() / want.abs().max() < 1e-5


def test_hostile_and_odd_files(tmp_path):
    state = editgan_encoder_state(2, 8, 4, resolution=32)
    cases = {"missing": {k: v for k, v in state.items() if k != "fine_styles.0.linear.bias"},
             "shape": {**state, "FPN_module.smooth2.weight": torch.zeros(4, 4, 1, 1)},
             "extra": {**state, "FPN_module.fc.weight": torch.zeros(3)},
             "value": {**state, "FPN_module.bn1.bias": [0.0] * 2},
             "stem": {k: v for k, v in state.items() if not k.startswith("FPN_module.conv1")},
             "heads": {k: v for k, v in state.items() if not k.startswith("medium_styles")}}
    messages = {"missing": "fine_styles.0.linear.bias", "shape": "FPN_module.smooth2.weight",
                "extra": "FPN_module.fc.weight", "value": "FPN_module.bn1.bias", "stem": "no FPN_module.conv1",
                "heads": "incomplete"}
    for name, bad in cases.items():
        write_editgan_encoder(tmp_path / f"{name}.pth", bad)
        with pytest.raises(CheckpointError, match=messages[name]) as err:
            load_editgan_encoder(tmp_path / f"{name}.pth")
        assert "\n" not in str(err.value)
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    write_editgan_encoder(tmp_path / "ok.pth", state)
    (tmp_path / "cut.pth").write_bytes((tmp_path / "ok.pth").read_bytes()[:5000])
    torch.save([1, 2], tmp_path / "list.pth")
    for name in ("notes.txt", "cut.pth", "list.pth", "absent.pth"):
        with pytest.raises(CheckpointError) as err:
            load_editgan_encoder(tmp_path / name)
        assert "\n" not in str(err.value)


def test_config_inputs_save_load_and_frozen_batchnorm(tmp_path):
    for bad in (dict(resolution=48), dict(resolution=16), dict(num_ws=7), dict(depths=(3, 4, 6)),
                dict(base_width=0), dict(groups=(3, 0))):
        with pytest.raises(ConfigError):
            FPNEncoderConfig(**bad)
    E = FPNEncoder(FPNEncoderConfig(resolution=32, num_ws=8, w_dim=4, base_width=2, fpn_channels=4))
    with pytest.raises(InputError, match=r"\[N, 3, 32, 32\]"):
        E(torch.zeros(1, 3, 64, 64))
    E.train()
    assert E.heads[0].training and not E.backbone.bn1.training and not E.backbone.layer1[0].bn1.training
    x = torch.rand(1, 3, 32, 32)
    E.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "encoder.json").read_text())["format"] == "editgan-fpn-encoder"
    loaded = load_encoder(tmp_path)
    assert isinstance(loaded, FPNEncoder) and torch.equal(loaded(x), E.eval()(x))


def tiny_release_bundle(tmp_path):
    """The tiny generator's bundle with a release-layout encoder (base 2, 8 x 16, 32 px) installed by the CLI."""
    G = make_tiny_generator()
    bundle = write_bundle(tmp_path / "bundle", "tiny", G, extra={"perceptual": "msssim_l1"})
    write_editgan_encoder(tmp_path / "enc.pth", editgan_encoder_state(2, G.num_ws, G.config.w_dim, seed=1,
                                                                      resolution=32))
    assert main(["convert-encoder", str(tmp_path / "enc.pth"), str(bundle.path)]) == 0
    return G, open_bundle(bundle.path)


def test_release_encoder_initialises_embedding(tmp_path):
    G, bundle = tiny_release_bundle(tmp_path)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    E = load_editgan_encoder(tmp_path / "enc.pth")
    assert isinstance(bundle.encoder(), FPNEncoder)
    torch.testing.assert_close(encode(bundle, x), E(x))
    result = Editor(bundle).embed(x, steps=0)
    torch.testing.assert_close(result.wplus, E(x))
    # a file whose shape does not fit the bundle is refused in one line
    write_editgan_encoder(tmp_path / "wide.pth", editgan_encoder_state(2, 9, 16, resolution=32))
    assert main(["convert-encoder", str(tmp_path / "wide.pth"), str(bundle.path)]) == 1


def test_train_encoder_from_release_init_and_from_scratch(tmp_path):
    G, bundle = tiny_release_bundle(tmp_path)
    data = tmp_path / "pngs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / f"{i}.png")
    common = ["train", "encoder", "--bundle", str(bundle.path), "--data", str(data), "--batch", "2",
              "--lr", "1e-3", "--steps", "1", "--quiet", "--threads", "1"]
    assert main([*common, "--out", str(tmp_path / "tune"), "--init", str(bundle.path)]) == 0
    init, tuned = bundle.encoder(), load_encoder(tmp_path / "tune")
    assert isinstance(tuned, FPNEncoder) and tuned.config == init.config
    before, after = init.state_dict(), tuned.state_dict()
    assert torch.equal(before["backbone.bn1.running_var"], after["backbone.bn1.running_var"])  # frozen statistics
    assert not torch.equal(before["heads.0.linear.weight"], after["heads.0.linear.weight"])
    assert main([*common, "--out", str(tmp_path / "scratch"), "--architecture", "fpn", "--base-width", "2",
                 "--fpn-channels", "4"]) == 0
    scratch = json.loads((tmp_path / "scratch" / "encoder.json").read_text())
    assert scratch["format"] == "editgan-fpn-encoder" and scratch["config"]["base_width"] == 2
