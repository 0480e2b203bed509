"""Segmenter training: learns a labelling, deterministic, stops on plateau; mask checks; CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from editgan.bundle import open_bundle, write_bundle
from editgan.cli import main
from editgan.errors import InputError
from editgan.io.masks import read_mask
from editgan.io.segmenter_files import load_segmenter
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter, segmentation_features
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_reference import upsampled_features
from editgan.train.segmenter_training import (TrainSettings, draw_pixels, extract_features, pixel_weights,
                                     train_segmenter)

torch.set_num_threads(1)
SCHEME = LabelScheme("three", ("background", "a", "b"), ((0, 0, 0), (255, 0, 0), (0, 0, 255)))


def teacher_masks(g, wplus, cfg):
    """Labels that the generator's features determine: argmax of a fixed random linear read-out."""
    gen = torch.Generator().manual_seed(42)
    proj = torch.randn(3, cfg.in_features, generator=gen, dtype=torch.float64)
    probe = Segmenter(cfg)
    masks = []
    with torch.no_grad():
        for w in wplus:
            _, feats = segmentation_features(g, w[None], cfg)
            x = upsampled_features(probe, feats)[0].double()
            x = (x - x.mean((1, 2), keepdim=True)) / (x.std((1, 2), keepdim=True) + 1e-6)
            masks.append(torch.einsum("kc,chw->khw", proj, x).argmax(0))
    return torch.stack(masks)


@pytest.fixture
def problem(tiny_generator):
    g = tiny_generator
    cfg = SegmenterConfig.for_generator(g.config, 3, num_members=2)
    wplus = g.z_to_wplus(g.sample_z(4, seed=11))
    return g, cfg, wplus, teacher_masks(g, wplus, cfg)


def test_training_learns_and_is_deterministic(problem):
    g, cfg, wplus, masks = problem
    feats = extract_features(g, wplus, cfg)
    settings = TrainSettings(max_steps=400, window=50, seed=3)
    runs = []
    for _ in range(2):
        seg = Segmenter(cfg, seeds=[3000, 3001])
        report = train_segmenter(seg, feats, masks, settings)
        runs.append((seg, report))
    (seg, report), (seg2, _) = runs
    chance = max(float((masks == k).float().mean()) for k in range(3))
    assert report.window_losses[-1] < 0.5 * report.window_losses[0]
    assert report.train_pixel_accuracy > max(0.85, chance + 0.1)
    assert all(torch.equal(a, b) for a, b in zip(seg.state_dict().values(), seg2.state_dict().values()))
    assert not torch.equal(seg.w1[0], seg.w1[1])  # members differ (own seeds)
    assert not seg.training


def test_training_stops_on_plateau(problem):
    g, cfg, wplus, masks = problem
    feats = extract_features(g, wplus, cfg)
    report = train_segmenter(Segmenter(cfg), feats, masks, TrainSettings(lr=0.0, max_steps=1000, window=10, patience=3))
    assert report.stopped == "plateau" and report.steps == 40


def test_progress_callback_and_mask_shape_check(problem):
    g, cfg, wplus, masks = problem
    feats = extract_features(g, wplus, cfg)
    seen = []
    train_segmenter(Segmenter(cfg), feats, masks, TrainSettings(max_steps=5, window=5), lambda s, loss: seen.append(s))
    assert seen == [1, 2, 3, 4, 5]
    with pytest.raises(InputError, match="masks must be"):
        train_segmenter(Segmenter(cfg), feats, masks[:, :16], TrainSettings(max_steps=1))


def test_read_mask_refuses_bad_files(tmp_path):
    good = np.zeros((8, 8), np.uint8)
    Image.fromarray(good).save(tmp_path / "ok.png")
    assert read_mask(tmp_path / "ok.png", SCHEME, (8, 8)).dtype == np.int64
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "size.png")
    with pytest.raises(InputError, match=r"size\.png is 8x9"):
        read_mask(tmp_path / "size.png", SCHEME, (8, 8))
    bad = good.copy()
    bad[0, 0] = 7
    np.save(tmp_path / "labels.npy", bad)
    with pytest.raises(InputError, match=r"labels\.npy has labels \[7\] outside scheme"):
        read_mask(tmp_path / "labels.npy", SCHEME, (8, 8))
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match=r"rgb\.png has 1 colours not in scheme 'three'"):
        read_mask(tmp_path / "rgb.png", SCHEME, (8, 8))
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    with pytest.raises(InputError, match=r"cmyk\.jpg is a CMYK image"):
        read_mask(tmp_path / "cmyk.jpg", SCHEME, (8, 8))


def test_cli_trains_and_writes_a_loadable_segmenter(problem, tmp_path, capsys):
    g, cfg, wplus, masks = problem
    bundle = tmp_path / "bundle"
    write_bundle(bundle, "tiny", g)
    names = [f"img{i}" for i in range(4)]
    save_file({n: w.contiguous() for n, w in zip(names, wplus)}, str(tmp_path / "w.safetensors"))
    (tmp_path / "masks").mkdir()
    for n, mask in zip(names, masks):
        Image.fromarray(mask.numpy().astype(np.uint8)).save(tmp_path / "masks" / f"{n}.png")
    (tmp_path / "scheme.json").write_text(json.dumps(SCHEME.to_json()))
    args = ["train", "segmenter", "--bundle", str(bundle), "--latents", str(tmp_path / "w.safetensors"),
            "--masks", str(tmp_path / "masks"), "--scheme", str(tmp_path / "scheme.json"),
            "--members", "2", "--max-steps", "30"]
    assert main(args) == 0
    seg, scheme = load_segmenter(bundle)
    assert scheme == SCHEME and seg.config.num_members == 2 and seg.config.in_features == cfg.in_features
    manifest = open_bundle(bundle).manifest
    assert manifest["provenance"]["segmenter"]["images"] == names and manifest["label_scheme"] == SCHEME.to_json()
    (tmp_path / "masks" / "img2.png").unlink()
    assert main(args) == 1
    assert "missing or ambiguous: ['img2']" in capsys.readouterr().err


@pytest.mark.parametrize("balance", [0.0, 0.5, 1.0])
def test_class_balanced_pixel_draws_follow_the_weights(balance):
    masks = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    weights = pixel_weights(masks, 4, balance)
    draws = draw_pixels(weights, masks.numel(), 200_000, torch.Generator().manual_seed(0))
    share = torch.bincount(masks[draws], minlength=4).double() / draws.numel()
    counts = np.array([900.0, 90.0, 10.0])
    expected = counts ** (1 - balance) / (counts ** (1 - balance)).sum()  # class c drawn ∝ n_c · n_c^-balance
    assert share[3] == 0  # absent classes are never drawn
    np.testing.assert_allclose(share[:3].numpy(), expected, atol=0.01)


def test_class_balance_out_of_range_is_refused():
    with pytest.raises(InputError, match="class_balance"):
        pixel_weights(torch.zeros(4, dtype=torch.int64), 2, 1.5)
