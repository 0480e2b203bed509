"""rosinality stylegan2-pytorch `.pt` files: layout, reading, and outputs vs the float64 reference."""

import os
import pickle

import pytest
import torch

import checkpoint_layouts as L
import reference_stylegan2 as ref
from editgan.errors import CheckpointError
from editgan.io.foreign import known_crop, load_foreign_generator, read_foreign_generator
from editgan.io.native import build_generator
from editgan.io.rosinality import read_rosinality

SIZE, DIM, N_MLP = 32, 32, 3
CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16}


@pytest.fixture(scope="module")
def rosi_file(tmp_path_factory):
    sd = L.rosinality_g_ema(SIZE, DIM, N_MLP, CHANNELS, seed=3)
    latent_avg = torch.randn(DIM, generator=torch.Generator().manual_seed(4))
    path = L.write_rosinality(tmp_path_factory.mktemp("rosi") / "g.pt", sd, latent_avg)
    return path, sd, latent_avg


def test_layout_matches_published_model_py():
    """Names and shapes of rosinality's Generator(size=16, style_dim=8, n_mlp=2), widths {4: 8, 8: 8, 16: 4}."""
    sd = L.rosinality_g_ema(16, 8, 2, {4: 8, 8: 8, 16: 4})
    styled = lambda p, i, o, up: [(p + "conv.weight", (1, o, i, 3, 3))] + (
        [(p + "conv.blur.kernel", (4, 4))] if up else []) + [
        (p + "conv.modulation.weight", (i, 8)), (p + "conv.modulation.bias", (i,)),
        (p + "noise.weight", (1,)), (p + "activate.bias", (o,))]
    rgb = lambda p, i, up: [(p + "bias", (1, 3, 1, 1))] + ([(p + "upsample.kernel", (4, 4))] if up else []) + [
        (p + "conv.weight", (1, 3, i, 1, 1)), (p + "conv.modulation.weight", (i, 8)),
        (p + "conv.modulation.bias", (i,))]
    expected = [("style.1.weight", (8, 8)), ("style.1.bias", (8,)), ("style.2.weight", (8, 8)),
                ("style.2.bias", (8,)), ("input.input", (1, 8, 4, 4))]
    expected += styled("conv1.", 8, 8, False) + rgb("to_rgb1.", 8, False)
    expected += styled("convs.0.", 8, 8, True) + styled("convs.1.", 8, 8, False)
    expected += styled("convs.2.", 8, 4, True) + styled("convs.3.", 4, 4, False)
    expected += rgb("to_rgbs.0.", 8, True) + rgb("to_rgbs.1.", 4, True)
    expected += [("noises.noise_0", (1, 1, 4, 4)), ("noises.noise_1", (1, 1, 8, 8)), ("noises.noise_2", (1, 1, 8, 8)),
                 ("noises.noise_3", (1, 1, 16, 16)), ("noises.noise_4", (1, 1, 16, 16))]
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == expected


def test_reads_config_and_tensors(rosi_file):
    path, sd, latent_avg = rosi_file
    config, ours, extras = read_rosinality(path)
    assert (config.resolution, config.z_dim, config.w_dim, config.num_mapping_layers) == (SIZE, DIM, DIM, N_MLP)
    assert config.channels == CHANNELS and config.conv_clamp is None and config.crop is None
    assert extras["w_avg_present"] and extras["noise_present"]
    torch.testing.assert_close(ours["mapping.w_avg"], latent_avg)
    torch.testing.assert_close(ours["mapping.fc2.weight"], sd["style.3.weight"])
    torch.testing.assert_close(ours["synthesis.b4.const"], sd["input.input"][0])
    torch.testing.assert_close(ours["synthesis.b16.conv0.weight"], sd["convs.2.conv.weight"][0])
    torch.testing.assert_close(ours["synthesis.b16.conv1.noise_const"], sd["noises.noise_4"][0, 0])
    torch.testing.assert_close(ours["synthesis.b4.conv1.noise_const"], sd["noises.noise_0"][0, 0])
    assert ours["synthesis.b8.conv1.noise_strength"].shape == ()
    assert ours["synthesis.b32.torgb.bias"].shape == (3,)
    assert all(v.dtype == torch.float32 for v in ours.values())
    build_generator(config, ours)  # strict: every key and shape fits our generator


def test_reference_drivers_agree_on_converted_weights(rosi_file):
    """The NVIDIA-layout reference run on our converted weights == the rosinality-layout reference
    run on the original file: the key mapping is right, independent of our network code."""
    path, sd, latent_avg = rosi_file
    _, ours, _ = read_rosinality(path)
    z = torch.randn(2, DIM, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    w_r = ref.rosinality_mapping(sd, z)
    w_n = ref.nvidia_mapping(ours, z)
    torch.testing.assert_close(w_r, w_n, rtol=1e-12, atol=1e-12)
    ws = ref.truncate(w_n.unsqueeze(1).repeat(1, 2 * 5 - 2, 1), latent_avg, 0.7)
    a, b = ref.rosinality_synthesis(sd, ws), ref.nvidia_synthesis(ours, ws)
    # Only difference: rosinality adds the demodulation eps 1e-8 to the sum of squares of the
    # fan-in-scaled weight, NVIDIA to that of the raw weight (~1e-8 relative per layer).
    assert (a - b).abs().max() / a.abs().max() < 1e-6


def test_loaded_generator_matches_float64_reference(rosi_file):
    path, sd, latent_avg = rosi_file
    G, extras = load_foreign_generator(path)
    assert not extras["w_avg_estimated"]
    z = torch.randn(2, DIM, generator=torch.Generator().manual_seed(6))
    w_ref = ref.rosinality_mapping(sd, z)
    torch.testing.assert_close(G.mapping(z).double(), w_ref, rtol=1e-4, atol=1e-5)
    ws_ref = ref.truncate(w_ref.unsqueeze(1).repeat(1, G.num_ws, 1), latent_avg, 0.7, cutoff=4)
    img_ref = ref.rosinality_synthesis(sd, ws_ref)
    for fused in (True, False):
        img = G.synthesize(G.z_to_wplus(z, psi=0.7, cutoff=4), noise_mode="const", fused=fused).double()
        assert img.shape == img_ref.shape == (2, 3, SIZE, SIZE)
        rel = (img - img_ref).abs().max() / img_ref.abs().max()
        assert rel < 1e-4, f"fused={fused}: relative error {rel:.2e}"


def test_train_style_checkpoint_with_args_namespace(tmp_path):
    sd = L.rosinality_g_ema(SIZE, DIM, 2, CHANNELS, seed=1)
    path = L.write_rosinality(tmp_path / "030000.pt", sd, None, train_style=True)
    config, ours, extras = read_rosinality(path)
    assert not extras["w_avg_present"] and "args" in extras["other_keys"]
    assert torch.count_nonzero(ours["mapping.w_avg"]) == 0
    G, extras = load_foreign_generator(path)
    assert extras["w_avg_estimated"] and torch.count_nonzero(G.w_avg) == DIM
    config_g, _, _ = read_rosinality(path, key="g")
    assert config_g == config


def test_real_config_f_widths(tmp_path):
    """A 32x32 generator at rosinality's fixed config-f widths (512) reads with the right config."""
    widths = {r: c for r, c in L.rosinality_channels(2).items() if r <= 32}
    sd = L.rosinality_g_ema(32, 512, 8, widths, zeros=True)
    path = L.write_rosinality(tmp_path / "f.pt", sd, torch.zeros(512))
    config, ours, _ = read_foreign_generator(path)
    assert config.channels == widths and config.z_dim == config.w_dim == 512 and config.num_mapping_layers == 8
    assert ours["synthesis.b32.conv0.weight"].shape == (512, 512, 3, 3)


def test_car_file_name_gets_the_known_crop(tmp_path):
    sd = L.rosinality_g_ema(512, 8, 1, {r: 4 for r in (4, 8, 16, 32, 64, 128, 256, 512)}, zeros=True)
    path = L.write_rosinality(tmp_path / "stylegan2-car-config-f.pt", sd, torch.zeros(8))
    config, _, extras = read_foreign_generator(path)
    assert config.crop == (64, 0, 384, 512) == extras["crop"]


@pytest.mark.parametrize("name,crop", [
    ("stylegan2_networks_stylegan2-car-config-f.pt", (64, 0, 384, 512)),  # EditGAN release names
    ("stylegan2_networks_stylegan2-car-config-f_with_d.pt", (64, 0, 384, 512)),
    ("stylegan2-car-config-f_with_d.pt", (64, 0, 384, 512)),
    ("stylegan2-car-config-f-finetuned.pt", None), ("my_stylegan2-car-config-f.pt", None),
    ("stylegan2_networks_stylegan2-car-config-f_with_d_v2.pt", None), ("stylegan2_networks_stylegan2-ffhq.pt", None)])
def test_known_crop_by_file_name(name, crop):
    assert known_crop(name) == crop


def test_release_file_name_gets_the_known_crop(tmp_path):
    sd = L.rosinality_g_ema(512, 8, 1, {r: 4 for r in (4, 8, 16, 32, 64, 128, 256, 512)}, zeros=True)
    path = L.write_rosinality(tmp_path / "stylegan2_networks_stylegan2-car-config-f_with_d.pt", sd, torch.zeros(8))
    assert read_foreign_generator(path)[0].crop == (64, 0, 384, 512)


def test_missing_noise_buffers_give_zero_noise(tmp_path):
    sd = {k: v for k, v in L.rosinality_g_ema(SIZE, DIM, 2, CHANNELS).items() if not k.startswith("noises.")}
    config, ours, extras = read_rosinality(L.write_rosinality(tmp_path / "n.pt", sd, None))
    assert not extras["noise_present"]
    assert torch.count_nonzero(ours["synthesis.b8.conv0.noise_const"]) == 0


def test_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_rosinality(tmp_path / "absent.pt")
    sd = L.rosinality_g_ema(SIZE, DIM, 2, CHANNELS)
    good = L.write_rosinality(tmp_path / "g.pt", sd, None)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_rosinality(cut)
    odd = dict(sd)
    odd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="does not know.*extra.weight"):
        read_rosinality(L.write_rosinality(tmp_path / "odd.pt", odd, None))
    bad_kernel = dict(sd)
    bad_kernel["convs.0.conv.blur.kernel"] = torch.ones(4, 4) / 4
    with pytest.raises(CheckpointError, match="blur kernel"):
        read_rosinality(L.write_rosinality(tmp_path / "k.pt", bad_kernel, None))
    torch.save({"model": sd}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'g_ema'"):
        read_rosinality(tmp_path / "other.pt")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pt_file_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    sd = L.rosinality_g_ema(SIZE, DIM, 2, CHANNELS)
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(DIM), "extra": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="refusing"):
        read_rosinality(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_RunsCode(marker)))  # the payload is real: plain unpickling runs it
    assert marker.exists()
