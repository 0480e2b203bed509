"""NVIDIA stylegan2-ada-pytorch / stylegan3 `.pkl` files: layout, safe reading, outputs vs the reference."""

import pytest
import torch
from torch import nn

import checkpoint_layouts as L
import reference_stylegan2 as ref
from editgan.errors import CheckpointError
from editgan.io.foreign import detect_format, load_foreign_generator
from editgan.io.native import build_generator
from editgan.io.nvidia_pkl import read_nvidia_pkl
from editgan.io.safe_pickle import PersistentRecord, SafeUnpickler, safe_load


def _nvidia_flat(G):
    """The published flat state dict of a stand-in network (what NVIDIA's G.state_dict() holds)."""
    return {k: v.detach().clone() for k, v in G.state_dict().items()}


def test_layout_matches_published_networks_py():
    """Names/shapes of networks.py's Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
    mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=16))."""
    G = L.nvidia_generator(resolution=8, z_dim=8, w_dim=8, num_layers=2, channel_base=64, channel_max=16)
    layer = lambda p, i, o, r: {p + "resample_filter": (4, 4), p + "affine.weight": (i, 8), p + "affine.bias": (i,),
                                p + "weight": (o, i, 3, 3), p + "noise_const": (r, r), p + "noise_strength": (),
                                p + "bias": (o,)}
    rgb = lambda p, i: {p + "affine.weight": (i, 8), p + "affine.bias": (i,), p + "weight": (3, i, 1, 1),
                        p + "bias": (3,)}
    expected = {"mapping.fc0.weight": (8, 8), "mapping.fc0.bias": (8,), "mapping.fc1.weight": (8, 8),
                "mapping.fc1.bias": (8,), "mapping.w_avg": (8,),
                "synthesis.b4.resample_filter": (4, 4), "synthesis.b4.const": (16, 4, 4),
                "synthesis.b8.resample_filter": (4, 4)}
    expected.update(layer("synthesis.b4.conv1.", 16, 16, 4))
    expected.update(rgb("synthesis.b4.torgb.", 16))
    expected.update(layer("synthesis.b8.conv0.", 16, 8, 8))
    expected.update(layer("synthesis.b8.conv1.", 8, 8, 8))
    expected.update(rgb("synthesis.b8.torgb.", 8))
    assert {k: tuple(v.shape) for k, v in G.state_dict().items()} == expected


@pytest.mark.parametrize("protocol", [3, 4])
def test_pickle_uses_exactly_the_published_globals(tmp_path, protocol):
    path = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator(), protocol=protocol)
    found = set()

    class Recording(SafeUnpickler):
        def find_class(self, module, name):
            found.add(f"{module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Recording(f).load()
    assert {"torch_utils.persistence._reconstruct_persistent_obj", "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter", "torch.storage._load_from_bytes", "collections.OrderedDict",
            "dnnlib.util.EasyDict", "numpy.dtype"} <= found
    record = safe_load(path)["G_ema"]
    assert isinstance(record, PersistentRecord) and record.class_name == "Generator" and record.version == 6
    assert record.module_src == L.FAKE_NETWORKS_SRC
    layer = record.children["synthesis"].children["b8"].children["conv0"]
    assert layer.state["act_gain"] == pytest.approx(2 ** 0.5)  # numpy float64 rebuilt as a plain float


@pytest.mark.parametrize("protocol,sg3_style", [(0, False), (1, False), (2, False), (3, False), (4, False),
                                                (5, False), (4, True)])
def test_reads_config_and_tensors(tmp_path, protocol, sg3_style):
    G = L.nvidia_generator(conv_clamp=256, stylegan3_kwargs_style=sg3_style)
    path = L.write_nvidia_pkl(tmp_path / "n.pkl", G, protocol=protocol)
    assert detect_format(path) == "nvidia"
    config, sd, extras = read_nvidia_pkl(path)
    assert (config.resolution, config.z_dim, config.w_dim, config.num_mapping_layers) == (32, 32, 32, 2)
    assert config.channels == {4: 32, 8: 32, 16: 32, 32: 16}  # min(512 // res, 32)
    assert config.conv_clamp == 256 and config.mapping_lr_mul == 0.01 and extras["w_avg_present"]
    flat = _nvidia_flat(G)
    assert set(sd) == {k for k in flat if not k.endswith("resample_filter")}
    for k, v in sd.items():
        torch.testing.assert_close(v, flat[k], rtol=0, atol=0)
    build_generator(config, sd)


@pytest.mark.parametrize("conv_clamp", [None, 0.6])
def test_loaded_generator_matches_float64_reference(tmp_path, conv_clamp):
    G_nv = L.nvidia_generator(conv_clamp=conv_clamp, seed=2)
    flat = _nvidia_flat(G_nv)
    G, _ = load_foreign_generator(L.write_nvidia_pkl(tmp_path / "n.pkl", G_nv))
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(7))
    w_ref = ref.nvidia_mapping(flat, z)
    torch.testing.assert_close(G.mapping(z).double(), w_ref, rtol=1e-4, atol=1e-5)
    ws_ref = ref.truncate(w_ref.unsqueeze(1).repeat(1, G.num_ws, 1), flat["mapping.w_avg"], 0.5, cutoff=5)
    img_ref = ref.nvidia_synthesis(flat, ws_ref, conv_clamp=conv_clamp)
    if conv_clamp is not None:  # the clamp must actually bite for this test to mean anything
        assert (ref.nvidia_synthesis(flat, ws_ref) - img_ref).abs().max() > 1e-2
    for fused in (True, False):
        img = G.synthesize(G.z_to_wplus(z, psi=0.5, cutoff=5), noise_mode="const", fused=fused).double()
        rel = (img - img_ref).abs().max() / img_ref.abs().max()
        assert rel < 1e-4, f"fused={fused}: relative error {rel:.2e}"


def test_reads_G_instead_of_G_ema(tmp_path):
    path = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator(seed=0),
                              extra={"G": L.nvidia_generator(seed=9)})
    _, sd_ema, _ = read_nvidia_pkl(path)
    _, sd_g, extras = read_nvidia_pkl(path, network="G")
    assert extras["network"] == "G"
    assert not torch.equal(sd_ema["synthesis.b4.const"], sd_g["synthesis.b4.const"])


def test_rejects_class_conditional(tmp_path):
    path = L.write_nvidia_pkl(tmp_path / "c.pkl", L.nvidia_generator(c_dim=10))
    with pytest.raises(CheckpointError, match="class-conditional"):
        read_nvidia_pkl(path)


class SynthesisInput(L._Persistent):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4))
        self.register_buffer("freqs", torch.randn(8, 2))


class StyleGAN3Synthesis(L._Persistent):
    _orig_module_src = "class SynthesisInput(torch.nn.Module): ...\n"

    def __init__(self):
        super().__init__()
        self.input = SynthesisInput()
        self.L0_36_32 = SynthesisInput()


def test_rejects_stylegan3_networks(tmp_path):
    G = L.nvidia_generator()
    G.synthesis = StyleGAN3Synthesis()
    StyleGAN3Synthesis.__name__ = "SynthesisNetwork"
    with pytest.raises(CheckpointError, match="StyleGAN3"):
        read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "sg3.pkl", G))


def test_rejects_resnet_architecture(tmp_path):
    G = L.nvidia_generator()
    G._init_kwargs["synthesis_kwargs"]["architecture"] = "resnet"
    with pytest.raises(CheckpointError, match="architecture 'resnet'"):
        read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "r.pkl", G))


def test_rejects_inconsistent_widths(tmp_path):
    G = L.nvidia_generator()
    G._init_kwargs["synthesis_kwargs"]["channel_base"] = 1024
    with pytest.raises(CheckpointError, match="disagree with channel_base"):
        read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "w.pkl", G))


def test_file_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_nvidia_pkl(tmp_path / "absent.pkl")
    good = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator())
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(CheckpointError, match="truncated|not a readable pickle"):
        read_nvidia_pkl(cut)
    no_ema = L.write_nvidia_pkl(tmp_path / "d.pkl", L.nvidia_generator(), extra={"G_ema": None})
    with pytest.raises(CheckpointError, match="not a pickled NVIDIA network"):
        read_nvidia_pkl(no_ema)
    import pickle
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="not an NVIDIA network pickle"):
        read_nvidia_pkl(tmp_path / "list.pkl")
    (tmp_path / "t.pkl").write_text("hello")
    with pytest.raises(CheckpointError, match="neither a torch checkpoint nor a pickle"):
        detect_format(tmp_path / "t.pkl")


def test_reads_discriminator_into_ours(tmp_path):
    from editgan.io.nvidia_pkl import read_nvidia_discriminator
    from editgan.nn.discriminator import Discriminator

    path = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator())
    D_nv = L.Discriminator(32, 3, 512, 32)  # same seed as the one written into the pkl
    config, sd, _ = read_nvidia_discriminator(path)
    assert config.resolution == 32 and config.channels == {4: 32, 8: 32, 16: 32, 32: 16}
    expected = {k: v for k, v in D_nv.state_dict().items() if not k.endswith("resample_filter")}
    assert set(sd) == set(expected) and "b32.fromrgb.weight" in sd and "b16.fromrgb.weight" not in sd
    for k in sd:
        torch.testing.assert_close(sd[k], expected[k], rtol=0, atol=0)
    D = Discriminator(config)
    D.load_state_dict(sd, strict=True)
    assert D(torch.zeros(2, 3, 32, 32)).shape == (2, 1)
    with pytest.raises(CheckpointError, match="not a pickled NVIDIA Discriminator"):
        read_nvidia_discriminator(path, network="G_ema")


def _clamp_only_in_layers(G):
    """As stylegan3's train.py writes G without --fp32: no conv_clamp kwarg above the layers, which got
    SynthesisBlock's default 256 (stored as each layer's `conv_clamp` attribute and init kwarg)."""
    G._init_kwargs["synthesis_kwargs"].pop("conv_clamp")
    for record in [G.synthesis, *G.synthesis.children()]:
        record._init_kwargs.pop("conv_clamp")
    return G


def _synthesis_layers(G):
    return [m for block in G.synthesis.children() for name, m in block.named_children()
            if name in ("conv0", "conv1", "torgb")]


def test_conv_clamp_is_read_from_the_layer_records(tmp_path):
    G_nv = _clamp_only_in_layers(L.nvidia_generator(conv_clamp=256, seed=2))
    with torch.no_grad():
        G_nv.synthesis.b4.conv1.bias.fill_(400.0)  # lrelu(400) * sqrt(2) = 566 > 256: the clamp bites
    flat = _nvidia_flat(G_nv)
    G, _ = load_foreign_generator(L.write_nvidia_pkl(tmp_path / "n.pkl", G_nv))
    assert G.config.conv_clamp == 256
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(7))
    ws = G.z_to_wplus(z, psi=1.0)
    img_ref = ref.nvidia_synthesis(flat, ws.double(), conv_clamp=256)
    assert (ref.nvidia_synthesis(flat, ws.double()) - img_ref).abs().max() > 10
    img = G.synthesize(ws, noise_mode="const").double()
    assert (img - img_ref).abs().max() / img_ref.abs().max() < 1e-4


@pytest.mark.parametrize("source,expected", [(L.FAKE_NETWORKS_SRC, None),
                                             ("# stylegan3 networks_stylegan2.py\nfused_modconv_default = 1\n", 256)])
def test_conv_clamp_stored_nowhere_is_the_class_default(tmp_path, source, expected):
    """stylegan2-ada-pytorch's networks.py defaults conv_clamp to None; stylegan3's networks_stylegan2.py
    to 256 (SynthesisBlock, Discriminator)."""
    G_nv = _clamp_only_in_layers(L.nvidia_generator(conv_clamp=256))
    for layer in _synthesis_layers(G_nv):
        del layer.conv_clamp
        layer._init_kwargs.pop("conv_clamp")
    G_nv._orig_module_src = source
    config, _, _ = read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "n.pkl", G_nv))
    assert config.conv_clamp == expected


def test_conv_clamp_layers_that_disagree_are_refused(tmp_path):
    G_nv = L.nvidia_generator(conv_clamp=256)
    G_nv.synthesis.b8.conv1.conv_clamp = 128
    with pytest.raises(CheckpointError, match="disagree on conv_clamp"):
        read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "n.pkl", G_nv))


@pytest.mark.parametrize("conv_clamp", [None, 256])
def test_discriminator_conv_clamp_from_its_layers(tmp_path, conv_clamp):
    from editgan.io.nvidia_pkl import read_nvidia_discriminator

    D_nv = L.Discriminator(32, 3, 512, 32, conv_clamp=conv_clamp)
    D_nv._init_kwargs.pop("conv_clamp")  # stylegan3's train.py passes none without --fp32
    path = L.write_nvidia_pkl(tmp_path / "n.pkl", L.nvidia_generator(), extra={"D": D_nv})
    assert read_nvidia_discriminator(path)[0].conv_clamp == conv_clamp
