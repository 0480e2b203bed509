"""`editgan convert IN OUT`: foreign checkpoints -> our safetensors + JSON format."""

import json

import torch

import checkpoint_layouts as L
from editgan.cli import main
from editgan.io.foreign import load_foreign_generator
from editgan.nn.stylegan2 import Generator

CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16}


def _same_images(a, b):
    z = torch.randn(2, a.config.z_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a(z, psi=0.7, noise_mode="const"), b(z, psi=0.7, noise_mode="const"))


def test_convert_rosinality(tmp_path, capsys):
    src = L.write_rosinality(tmp_path / "g.pt", L.rosinality_g_ema(32, 32, 2, CHANNELS), torch.randn(32))
    assert main(["convert", str(src), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "rosinality generator: 32x32" in out and "lr multiplier" in out
    converted = Generator.from_pretrained(tmp_path / "out")
    original, _ = load_foreign_generator(src)
    for k, v in original.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[k], v, rtol=0, atol=0)
    _same_images(converted, original)


def test_convert_nvidia_with_crop(tmp_path, capsys):
    src = L.write_nvidia_pkl(tmp_path / "network-snapshot-000100.pkl", L.nvidia_generator(conv_clamp=256))
    assert main(["convert", str(src), str(tmp_path / "out"), "--format", "nvidia", "--crop", "4,0,24,32"]) == 0
    meta = json.loads((tmp_path / "out" / "generator.json").read_text())
    assert meta["config"]["crop"] == [4, 0, 24, 32] and meta["config"]["conv_clamp"] == 256
    converted = Generator.from_pretrained(tmp_path / "out")
    z = torch.randn(1, 32)
    assert converted(z).shape == (1, 3, 24, 32)
    original, _ = load_foreign_generator(src, crop=(4, 0, 24, 32))
    _same_images(converted, original)


def test_convert_known_crop_can_be_turned_off(tmp_path):
    sd = L.rosinality_g_ema(512, 8, 1, {r: 4 for r in (4, 8, 16, 32, 64, 128, 256, 512)}, zeros=True)
    src = L.write_rosinality(tmp_path / "stylegan2-car-config-f.pt", sd, torch.zeros(8))
    assert main(["convert", str(src), str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "generator.json").read_text())["config"]["crop"] == [64, 0, 384, 512]
    assert main(["convert", str(src), str(tmp_path / "b"), "--crop", "none"]) == 0
    assert json.loads((tmp_path / "b" / "generator.json").read_text())["config"]["crop"] is None


def test_convert_errors_are_one_line(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "absent.pt"), str(tmp_path / "o")]) == 1
    assert "not found" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert main(["convert", str(tmp_path / "notes.txt"), str(tmp_path / "o")]) == 1
    assert "neither a torch checkpoint nor a pickle" in capsys.readouterr().err
    pkl = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator())
    assert main(["convert", str(pkl), str(tmp_path / "o"), "--format", "rosinality"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("editgan convert: error:") and "Traceback" not in err
    pt = L.write_rosinality(tmp_path / "g.pt", L.rosinality_g_ema(32, 32, 2, CHANNELS), None)
    assert main(["convert", str(pt), str(tmp_path / "o"), "--format", "nvidia"]) == 1
    assert "try --format rosinality" in capsys.readouterr().err
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pkl.read_bytes()[:5000])
    assert main(["convert", str(cut), str(tmp_path / "o")]) == 1
    assert "truncated" in capsys.readouterr().err
    assert main(["convert", str(pt), str(tmp_path / "o"), "--crop", "1,2"]) == 1
    assert "--crop must be" in capsys.readouterr().err
    assert not (tmp_path / "o" / "generator.json").exists()
