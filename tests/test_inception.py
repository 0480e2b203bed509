"""True FID / KID through NVIDIA's TorchScript Inception layout: a stand-in module written in that
layout (uint8 images in, return_features=True -> [N, 2048]) checks the plumbing; the real file is
tested when EDITGAN_INCEPTION points to it."""

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import CheckpointError, MissingWeightsError
from editgan.eval.frechet import frechet_distance
from editgan.eval.inception import INCEPTION_FILE, fid, inception_features, kid, load_inception
from editgan.eval.kernel_distance import kernel_distance


class StandIn(nn.Module):
    """Same call signature as inception-2015-12-05.pt; refuses anything but uint8 input."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3 * 4 * 4, 2048)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8
        f = self.proj(F.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1))
        return f if return_features else f.softmax(dim=1)


@pytest.fixture()
def stand_in(tmp_path):
    torch.manual_seed(0)
    torch.jit.script(StandIn()).save(str(tmp_path / INCEPTION_FILE))
    return tmp_path


def test_features_quantise_like_saved_images_and_batch(stand_in):
    model = load_inception(stand_in)  # a directory holding the file
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    feats = inception_features(model, images, batch_size=2)
    as_uint8 = (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    expected = StandIn().eval()
    expected.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(feats, expected(as_uint8, return_features=True).double(), atol=1e-5, rtol=1e-5)
    assert feats.dtype == torch.float64 and feats.shape == (5, 2048)


@pytest.mark.slow
def test_fid_and_kid_are_the_set_distances_of_those_features(stand_in):
    model = load_inception(stand_in / INCEPTION_FILE)
    a, b = torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(7, 3, 8, 8) * 1.5 - 1
    fa, fb = inception_features(model, a), inception_features(model, b)
    expected = frechet_distance(fa, fb)  # 2048-D eigendecompositions: a few seconds each, so only two FDs
    assert fid(model, a, b) == pytest.approx(expected)
    assert kid(model, a, b) == pytest.approx(kernel_distance(fa, fb, subsets=100, subset_size=1000))


def test_missing_or_invalid_weights_raise(tmp_path):
    with pytest.raises(MissingWeightsError, match=INCEPTION_FILE):
        load_inception(tmp_path)
    (tmp_path / INCEPTION_FILE).write_bytes(b"not a torchscript archive")
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_inception(tmp_path)


@pytest.mark.skipif(not os.environ.get("EDITGAN_INCEPTION"), reason="set EDITGAN_INCEPTION to NVIDIA's "
                    "inception-2015-12-05.pt to test the real network")
def test_real_inception_weights():
    from editgan.toonfaces import render, sample_params
    from editgan.toonfaces.dataset import image_to_tensor

    model = load_inception(os.environ["EDITGAN_INCEPTION"])
    a = torch.stack([image_to_tensor(render(sample_params(i), 64)[0]) for i in range(8)])
    b = torch.stack([image_to_tensor(render(sample_params(100 + i), 64)[0]) for i in range(8)])
    assert inception_features(model, a).shape == (8, 2048)
    assert fid(model, a, a) == pytest.approx(0.0, abs=1e-3)
    assert fid(model, a, b) > 1.0
