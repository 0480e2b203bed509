"""The shipped toonface measuring networks on rendered data, and their training pieces."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from editgan.errors import InputError, MissingWeightsError
from editgan.toonfaces import (
    attribute_scores,
    edit_params,
    fd_toon,
    identity_similarity,
    is_smiling,
    kd_toon,
    render,
    same_identity,
    sample_params,
)
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.measure_nets import ToonNet, asset_dir, load_measure_nets
from editgan.toonfaces.measures_training import info_nce, train_attribute_net


def images(params, size=128):
    return image_to_tensor(np.stack([render(p, size)[0] for p in params]))


def test_assets_are_small_safetensors():
    files = sorted(p.name for p in asset_dir().iterdir())
    assert files == ["attribute.safetensors", "identity.safetensors", "measures.json"]
    assert sum(p.stat().st_size for p in asset_dir().iterdir()) <= 5 * 2**20


def test_attribute_net_gets_smile_and_eyes_right():
    faces = [sample_params(split_seed("test", i)) for i in range(6)]
    smiling = images([edit_params(p, smile=0.9) for p in faces])
    frowning = images([edit_params(p, smile=-0.6) for p in faces])
    assert is_smiling(smiling).all() and not is_smiling(frowning).any()
    closed = attribute_scores(images([edit_params(p, eye_open=0.0) for p in faces]))["eye_open"]
    opened = attribute_scores(images([edit_params(p, eye_open=1.0) for p in faces]))["eye_open"]
    assert (closed < 0.3).all() and (opened > 0.7).all()


def test_identity_same_face_other_expression_beats_other_face():
    faces = [sample_params(split_seed("test", i)) for i in range(8)]
    base = images(faces)
    edited = images([edit_params(p, smile=-p.smile, mouth_open=1 - p.mouth_open) for p in faces])
    others = base.roll(1, dims=0)
    same, diff = identity_similarity(base, edited), identity_similarity(base, others)
    assert (same > diff).all()
    assert same_identity(base, edited).float().mean() >= 0.75
    assert same_identity(base, others).float().mean() <= 0.25
    with pytest.raises(InputError):
        identity_similarity(base, base[:3])


def test_fd_and_kd_separate_a_shifted_distribution():
    a = images([sample_params(split_seed("test", i)) for i in range(100)])
    b = images([sample_params(split_seed("test", 100 + i)) for i in range(100)])
    # b's faces from a shifted parameter range: broad smiles, closed eyes, dark skin
    shifted = images([edit_params(sample_params(split_seed("test", 100 + i)), smile=1.0, eye_open=0.05,
                                  skin_tone=0.9 + 0.001 * i) for i in range(100)])
    assert fd_toon(a, b) < 0.5 * fd_toon(a, shifted)
    assert kd_toon(a, b) < 0.5 * kd_toon(a, shifted)


def test_network_input_checks_and_missing_weights(tmp_path):
    net = ToonNet([8, 8], 16, 2, input_size=64)
    with pytest.raises(InputError, match="N, 3, S, S"):
        net(torch.zeros(2, 1, 64, 64))
    with pytest.raises(InputError, match="float"):
        net(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    assert net.eval()(torch.zeros(2, 3, 128, 128)).shape == (2, 2)
    with pytest.raises(MissingWeightsError, match="train measures"):
        load_measure_nets(str(tmp_path))


def test_info_nce_matches_explicit_sum():
    torch.manual_seed(0)
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    sims = [[float(an[i] @ bn[j]) / 0.1 for j in range(4)] for i in range(4)]
    row = sum(-sims[i][i] + np.log(sum(np.exp(s) for s in sims[i])) for i in range(4)) / 4
    col = sum(-sims[j][j] + np.log(sum(np.exp(sims[i][j]) for i in range(4))) for j in range(4)) / 4
    assert float(info_nce(a, b, 0.1)) == pytest.approx(0.5 * (row + col), rel=1e-5)


def test_attribute_training_is_deterministic():
    pool = torch.randint(0, 256, (16, 3, 128, 128), dtype=torch.uint8)
    targets = torch.randn(16, 7)
    nets = [train_attribute_net(pool, targets, steps=3, batch=4, seed=1, log=lambda m: None) for _ in range(2)]
    for (k, v), w in zip(nets[0].state_dict().items(), nets[1].state_dict().values()):
        assert torch.equal(v, w), k
