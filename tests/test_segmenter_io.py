"""Segmenter files: published DatasetGAN/EditGAN classifier layout in, our safetensors format round trip."""

import pickle

import pytest
import torch
from torch import nn

from editgan.errors import CheckpointError, InputError
from editgan.io.datasetgan import load_datasetgan_classifiers, member_files
from editgan.io.segmenter_files import load_segmenter, save_segmenter
from editgan.labels import DATASETGAN_BIRD, DATASETGAN_CAR, DATASETGAN_CAT, DATASETGAN_FACE, get_scheme
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_reference import upsampled_features

torch.set_num_threads(1)
LAYOUT = dict(feature_shapes=[(6, 4), (5, 8), (3, 16)], out_resolution=16)


def published_classifier(cin: int, classes: int, seed: int) -> nn.Sequential:
    """DatasetGAN's pixel_classifier.layers, with trained-looking BatchNorm statistics."""
    torch.manual_seed(seed)
    h1, h2 = (256, 128) if classes >= 32 else (128, 32)
    seq = nn.Sequential(nn.Linear(cin, h1), nn.ReLU(), nn.BatchNorm1d(h1), nn.Linear(h1, h2), nn.ReLU(),
                        nn.BatchNorm1d(h2), nn.Linear(h2, classes))
    with torch.no_grad():
        for bn in (seq[2], seq[5]):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
            bn.weight.normal_(1, 0.2)
            bn.bias.normal_(0, 0.2)
            bn.num_batches_tracked.fill_(1234)
    return seq.eval()


class PixelClassifier(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers


def write_published(directory, classes=5, members=3, prefix="model_", data_parallel=True):
    directory.mkdir(parents=True, exist_ok=True)
    seqs = []
    for m in range(members):
        seq = published_classifier(14, classes, seed=m)
        module = PixelClassifier(seq)
        state = (nn.DataParallel(module) if data_parallel else module).state_dict()
        torch.save({"model_state_dict": state}, directory / f"{prefix}{m}.pth")
        seqs.append(seq)
    return seqs


@pytest.mark.parametrize("prefix, data_parallel", [("model_", True), ("car_model_", True), ("model_", False)])
def test_published_classifiers_load_and_match(tmp_path, prefix, data_parallel):
    seqs = write_published(tmp_path / "cls", prefix=prefix, data_parallel=data_parallel)
    if data_parallel:
        keys = torch.load(tmp_path / "cls" / f"{prefix}0.pth", weights_only=True)["model_state_dict"]
        assert all(k.startswith("module.layers.") for k in keys)
    seg = load_datasetgan_classifiers(tmp_path / "cls", **LAYOUT)
    assert seg.config.num_members == 3 and seg.config.num_classes == 5 and seg.config.hidden == (128, 32)
    torch.manual_seed(9)
    feats = [torch.randn(1, c, r, r) for c, r in LAYOUT["feature_shapes"]]
    x = upsampled_features(seg, feats)[0].flatten(1).T  # [P, C_in] as DatasetGAN feeds it
    ours = seg.member_logits(feats)[0].flatten(2)      # [M, K, P]
    for m, seq in enumerate(seqs):
        with torch.no_grad():
            assert (ours[m].T - seq(x)).abs().max() < 1e-5
    assert torch.equal(seg.bn1_count, torch.full((3,), 1234))


def test_member_files_order_and_errors(tmp_path):
    write_published(tmp_path / "a", members=12)
    assert [p.name for p in member_files(tmp_path / "a")][:3] == ["model_0.pth", "model_1.pth", "model_2.pth"]
    assert member_files(tmp_path / "a")[10].name == "model_10.pth"
    (tmp_path / "a" / "model_5.pth").unlink()
    with pytest.raises(CheckpointError, match="not numbered"):
        member_files(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no classifier files"):
        member_files(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="not found"):
        member_files(tmp_path / "missing")


def test_member_files_choose_final_or_an_iteration(tmp_path):
    d = tmp_path / "release"
    d.mkdir()
    for name in ("car_model_{}.pth", "car_model_iter5000_number_{}.pth", "car_model_iter9000_number_{}.pth"):
        for m in range(2):
            (d / name.format(m)).write_bytes(b"x")
    assert [p.name for p in member_files(d)] == ["car_model_0.pth", "car_model_1.pth"]
    assert [p.name for p in member_files(d, 9000)] == ["car_model_iter9000_number_0.pth",
                                                       "car_model_iter9000_number_1.pth"]
    with pytest.raises(CheckpointError, match="no classifiers of iteration 7"):
        member_files(d, 7)
    for m in range(2):
        (d / f"car_model_{m}.pth").unlink()
    with pytest.raises(CheckpointError, match="iterations \\[5000, 9000\\] and no final"):
        member_files(d)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_or_malformed_files_are_refused(tmp_path):
    d = tmp_path / "cls"
    write_published(d, members=1)
    torch.save({"model_state_dict": {"x": Evil()}}, d / "model_0.pth")
    with pytest.raises(CheckpointError, match="plain tensors"):
        load_datasetgan_classifiers(d, **LAYOUT)
    (d / "model_0.pth").write_bytes(pickle.dumps([1, 2]) + b"garbage")
    with pytest.raises(CheckpointError):
        load_datasetgan_classifiers(d, **LAYOUT)
    torch.save({"weights": {}}, d / "model_0.pth")
    with pytest.raises(CheckpointError, match="model_state_dict"):
        load_datasetgan_classifiers(d, **LAYOUT)
    write_published(d, members=1)
    state = torch.load(d / "model_0.pth", weights_only=True)["model_state_dict"]
    del state["module.layers.5.running_var"]
    torch.save({"model_state_dict": state}, d / "model_0.pth")
    with pytest.raises(CheckpointError, match="layers.5.running_var"):
        load_datasetgan_classifiers(d, **LAYOUT)
    write_published(d, members=1)
    with pytest.raises(CheckpointError, match="first layer takes 14 features"):
        load_datasetgan_classifiers(d, feature_shapes=[(6, 4)], out_resolution=16)


def test_native_round_trip(tmp_path):
    cfg = SegmenterConfig(num_classes=11, **LAYOUT, num_members=2, crop=(2, 0, 12, 16), interpolation="nearest")
    seg = Segmenter(cfg, seeds=[5, 6])
    with torch.no_grad():
        seg.bn1_mean.normal_()
        seg.b3.normal_()
    seg.eval()
    save_segmenter(seg, tmp_path / "b", DATASETGAN_BIRD, provenance={"note": "test"})
    loaded, scheme = load_segmenter(tmp_path / "b")
    assert scheme == DATASETGAN_BIRD and loaded.config == cfg
    feats = [torch.randn(2, c, r, r) for c, r in LAYOUT["feature_shapes"]]
    assert torch.equal(loaded.member_logits(feats), seg.member_logits(feats))
    with pytest.raises(InputError, match="classes"):
        save_segmenter(seg, tmp_path / "c", DATASETGAN_CAT)
    (tmp_path / "b" / "segmenter.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_segmenter(tmp_path / "b")


def test_native_mismatch_is_refused(tmp_path):
    cfg = SegmenterConfig(num_classes=3, **LAYOUT, num_members=2)
    save_segmenter(Segmenter(cfg), tmp_path)
    other = SegmenterConfig(num_classes=3, **LAYOUT, num_members=3)
    save_segmenter(Segmenter(other), tmp_path, name="other")
    (tmp_path / "segmenter.safetensors").write_bytes((tmp_path / "other.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="do not fit .*wrong shape"):
        load_segmenter(tmp_path)


def test_published_label_schemes():
    assert [s.num_classes for s in (DATASETGAN_FACE, DATASETGAN_CAR, DATASETGAN_CAT, DATASETGAN_BIRD)] == [34, 32, 16, 11]
    assert DATASETGAN_FACE.colors[1] == (112, 130, 107)  # int(0.4420 * 255), int(0.5100 * 255), ...
    assert DATASETGAN_FACE.index("head***eye***pupil") == 10
    assert DATASETGAN_CAR.colors[31] == (72, 184, 226)
    assert get_scheme("datasetgan-cat-16") is DATASETGAN_CAT
    with pytest.raises(InputError, match="known"):
        get_scheme("horse")
