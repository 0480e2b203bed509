"""ArcFace IR-SE50: a random-weight file in InsightFace_Pytorch's `model_ir_se50.pth` layout, loaded and
compared against a float64 forward written here from the published architecture; the face crop;
layout errors; the identity term in editing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edit_fixtures import make_tiny_segmenter, painted_target, write_edit_bundle
from editgan.bundle import open_bundle
from editgan.cli import main
from editgan.edit.identity import ArcFaceIdentity, arcface_crop, load_identity
from editgan.editor import Editor
from editgan.errors import CheckpointError
from editgan.io.arcface_weights import load_arcface

# The published IR-SE50: stages of (depth, units), the first unit of each with stride 2.
STAGES = [(64, 3), (128, 4), (256, 14), (512, 3)]


def _units():
    c_in = 64
    for depth, n in STAGES:
        for i in range(n):
            yield c_in, depth, 2 if i == 0 else 1
            c_in = depth


def _bn(sd, key, c, gen, counters):
    sd[f"{key}.weight"] = 1 + 0.1 * torch.randn(c, generator=gen)
    sd[f"{key}.bias"] = 0.1 * torch.randn(c, generator=gen)
    sd[f"{key}.running_mean"] = 0.1 * torch.randn(c, generator=gen)
    sd[f"{key}.running_var"] = 0.5 + torch.rand(c, generator=gen)
    if counters:
        sd[f"{key}.num_batches_tracked"] = torch.tensor(7)


def _conv(shape, gen, gain=1.0):
    fan_in = shape[1] * shape[2] * shape[3]
    return gain * torch.randn(*shape, generator=gen) / fan_in ** 0.5


def random_state_dict(seed=0, counters=True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = {"input_layer.0.weight": _conv((64, 3, 3, 3), gen)}
    _bn(sd, "input_layer.1", 64, gen, counters)
    sd["input_layer.2.weight"] = 0.25 + 0.05 * torch.randn(64, generator=gen)
    for i, (c_in, depth, _) in enumerate(_units()):
        u = f"body.{i}"
        if c_in != depth:
            sd[f"{u}.shortcut_layer.0.weight"] = _conv((depth, c_in, 1, 1), gen)
            _bn(sd, f"{u}.shortcut_layer.1", depth, gen, counters)
        _bn(sd, f"{u}.res_layer.0", c_in, gen, counters)
        sd[f"{u}.res_layer.1.weight"] = _conv((depth, c_in, 3, 3), gen)
        sd[f"{u}.res_layer.2.weight"] = 0.25 + 0.05 * torch.randn(depth, generator=gen)
        sd[f"{u}.res_layer.3.weight"] = _conv((depth, depth, 3, 3), gen, 0.5)
        _bn(sd, f"{u}.res_layer.4", depth, gen, counters)
        sd[f"{u}.res_layer.5.fc1.weight"] = _conv((depth // 16, depth, 1, 1), gen)
        sd[f"{u}.res_layer.5.fc2.weight"] = _conv((depth, depth // 16, 1, 1), gen)
    _bn(sd, "output_layer.0", 512, gen, counters)
    sd["output_layer.3.weight"] = torch.randn(512, 512 * 7 * 7, generator=gen) / (512 * 49) ** 0.5
    sd["output_layer.3.bias"] = 0.1 * torch.randn(512, generator=gen)
    _bn(sd, "output_layer.4", 512, gen, counters)
    return sd


def reference_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """IR-SE50 in float64 from the state dict alone (BatchNorm with running statistics, eps 1e-5)."""
    p = {k: v.double() for k, v in sd.items()}
    x = x.double()

    def bn(t, key):
        shape = (1, -1) + (1,) * (t.ndim - 2)
        scale = p[f"{key}.weight"] / torch.sqrt(p[f"{key}.running_var"] + 1e-5)
        return (t - p[f"{key}.running_mean"].view(shape)) * scale.view(shape) + p[f"{key}.bias"].view(shape)

    def prelu(t, key):
        a = p[key].view(1, -1, 1, 1)
        return torch.where(t > 0, t, a * t)

    x = prelu(bn(F.conv2d(x, p["input_layer.0.weight"], padding=1), "input_layer.1"), "input_layer.2.weight")
    for i, (c_in, depth, stride) in enumerate(_units()):
        u = f"body.{i}"
        if c_in == depth:
            short = x[:, :, ::stride, ::stride]
        else:
            short = bn(F.conv2d(x, p[f"{u}.shortcut_layer.0.weight"], stride=stride), f"{u}.shortcut_layer.1")
        r = bn(x, f"{u}.res_layer.0")
        r = prelu(F.conv2d(r, p[f"{u}.res_layer.1.weight"], padding=1), f"{u}.res_layer.2.weight")
        r = bn(F.conv2d(r, p[f"{u}.res_layer.3.weight"], stride=stride, padding=1), f"{u}.res_layer.4")
        s = r.mean((2, 3), keepdim=True)
        s = torch.relu(torch.einsum("oc,nchw->nohw", p[f"{u}.res_layer.5.fc1.weight"][:, :, 0, 0], s))
        s = torch.sigmoid(torch.einsum("oc,nchw->nohw", p[f"{u}.res_layer.5.fc2.weight"][:, :, 0, 0], s))
        x = short + r * s
    x = bn(x, "output_layer.0").flatten(1)
    x = bn(x @ p["output_layer.3.weight"].T + p["output_layer.3.bias"], "output_layer.4")
    return x / x.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def arcface_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("arcface") / "model_ir_se50.pth"
    torch.save(random_state_dict(), path)
    return path


def test_loads_the_layout_and_matches_an_independent_float64_forward(arcface_file):
    net = load_arcface(arcface_file)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    faces = torch.rand(2, 3, 112, 112, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = net(faces)
    want = reference_forward(torch.load(arcface_file, weights_only=True), faces)
    assert got.shape == (2, 512)
    assert float((got.double() - want).abs().max()) < 1e-4
    assert float(F.cosine_similarity(got[0:1], got[1:2])) < 0.999  # different faces, different embeddings


def test_files_without_batch_counters_load(tmp_path):
    path = tmp_path / "old.pth"
    sd = random_state_dict(seed=3, counters=False)
    torch.save(sd, path)
    faces = torch.zeros(1, 3, 112, 112)
    assert torch.allclose(load_arcface(path)(faces).double(), reference_forward(sd, faces), atol=1e-4)


def _pool_1d(n_in: int, n_out: int) -> np.ndarray:
    """Adaptive average pooling as a matrix [n_out, n_in]: bin i covers floor(i n/m) .. ceil((i+1) n/m)."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        a, b = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, a:b] = 1 / (b - a)
    return m


def test_face_crop_is_psp_crop_then_pool():
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    crop = x[0, :, 35:223, 32:220].numpy()
    rows, cols = _pool_1d(188, 112), _pool_1d(188, 112)
    want = np.einsum("ih,chw,jw->cij", rows, crop, cols)
    np.testing.assert_allclose(arcface_crop(x)[0].numpy(), want, atol=1e-12)
    small = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    up = small.repeat_interleave(4, 2).repeat_interleave(4, 3)  # 64 -> 256 by pooling replicates pixels
    np.testing.assert_allclose(arcface_crop(small).numpy(), arcface_crop(up).numpy(), atol=1e-12)


def test_wrong_layouts_raise_clear_errors(tmp_path, arcface_file):
    sd = torch.load(arcface_file, weights_only=True)
    cases = {
        "missing": {k: v for k, v in sd.items() if k != "body.5.res_layer.5.fc1.weight"},
        "extra": {**sd, "logits.weight": torch.zeros(2)},
        "shape": {**sd, "output_layer.3.weight": torch.zeros(512, 512)},
        "list": [torch.zeros(1)],
        "nan": {**sd, "input_layer.0.weight": torch.full((64, 3, 3, 3), float("nan"))},
    }
    messages = {"missing": "missing body.5.res_layer.5.fc1.weight", "extra": "unexpected logits.weight",
                "shape": "output_layer.3.weight [512, 512] (needs [512, 25088])", "list": "not an ArcFace",
                "nan": "non-finite"}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / f"{name}.pth")
        with pytest.raises(CheckpointError, match=messages[name].replace("[", r"\[").replace("]", r"\]")
                           .replace("(", r"\(").replace(")", r"\)")):
            load_arcface(tmp_path / f"{name}.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_arcface(tmp_path / "none.pth")


def test_arcface_identity_is_differentiable(arcface_file):
    ident = load_identity(arcface_file)
    assert isinstance(ident, ArcFaceIdentity)
    x = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    ident(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_identity_term_enters_edits(tmp_path, tiny_generator, capsys):
    seg = make_tiny_segmenter(tiny_generator)
    write_edit_bundle(tmp_path / "b", tiny_generator, seg)
    w = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1))
    target = painted_target(tiny_generator, seg, w)
    plain = Editor(open_bundle(tmp_path / "b"))
    with_id = Editor(open_bundle(tmp_path / "b"), identity="toonfaces")
    r0, _ = plain.edit(w, target, ["mouth"], steps=3, buffer=1)
    r1, _ = with_id.edit(w, target, ["mouth"], steps=3, buffer=1)
    assert all(step["identity"] == 0 for step in r0.losses)
    assert r1.losses[0]["identity"] == pytest.approx(0, abs=1e-6) and r1.losses[-1]["identity"] > 0
    last = r1.losses[-1]
    assert last["perceptual"] > 0  # the bundle's perceptual distance enters Eq. 2
    assert last["loss"] == pytest.approx(15 * (last["l2"] + last["perceptual"]) + last["ce"]
                                         + 10 * last["identity"], rel=1e-5)
    assert not torch.equal(r0.delta, r1.delta)
    from PIL import Image
    Image.fromarray(target[0].numpy().astype(np.uint8), mode="L").save(tmp_path / "mask.png")
    assert main(["edit", "--bundle", str(tmp_path / "b"), "--seed", "1", "--target", str(tmp_path / "mask.png"),
                 "--parts", "mouth", "--out", str(tmp_path / "o"), "--edit-steps", "1", "--identity",
                 str(tmp_path / "missing.pth")]) == 1
    assert "missing.pth" in capsys.readouterr().err
