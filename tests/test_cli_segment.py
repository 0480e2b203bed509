"""`editgan segment` and `editgan train segmenter --images` end to end on a tiny bundle."""

import numpy as np
import pytest
import torch
from PIL import Image

from edit_fixtures import SCHEME, make_tiny_segmenter, write_edit_bundle
from editgan.bundle import open_bundle
from editgan.cli import main
from editgan.files import load_tensors
from editgan.io.images import to_uint8
from editgan.io.latents import save_wplus
from editgan.io.segmentation_files import blend
from editgan.nn.segmenter import render_and_segment

torch.set_num_threads(1)


@pytest.fixture
def world(tiny_generator, tmp_path):
    """A bundle with a segmenter, three rendered images and their segmenter labels."""
    g = tiny_generator
    seg = make_tiny_segmenter(g)
    write_edit_bundle(tmp_path / "bundle", g, seg)
    wplus = g.z_to_wplus(g.sample_z(3, seed=5))
    images, seg_out = render_and_segment(g, seg, wplus)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i, (img, labels) in enumerate(zip(to_uint8(images), seg_out.labels)):
        Image.fromarray(img).save(tmp_path / "images" / f"img{i}.png")
        Image.fromarray(labels.numpy().astype(np.uint8), mode="L").save(tmp_path / "masks" / f"img{i}.png")
    return g, seg, wplus, seg_out.labels, tmp_path


def one_line_errors(err):
    return [line for line in err.splitlines() if "error" in line or "skipped" in line]


def test_segment_writes_three_files_per_image_and_reports_bad_ones(world, capsys):
    g, seg, wplus, labels, tmp = world
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    images = [str(tmp / "images" / "img0.png"), str(tmp / "broken.png"), str(tmp / "images" / "img1.png")]
    assert main(["segment", *images, "--bundle", str(tmp / "bundle"), "--embed-steps", "2",
                 "--out", str(tmp / "out")]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and len([line for line in err.splitlines() if "broken.png" in line]) == 1
    for stem in ("img0", "img1"):
        lab = Image.open(tmp / "out" / f"{stem}.labels.png")
        mask = np.asarray(Image.open(tmp / "out" / f"{stem}.mask.png"))
        assert lab.mode == "L" and lab.size == (32, 32)
        np.testing.assert_array_equal(mask, SCHEME.palette()[np.asarray(lab)])
        image = np.asarray(Image.open(tmp / "images" / f"{stem}.png"))
        np.testing.assert_array_equal(np.asarray(Image.open(tmp / "out" / f"{stem}.overlay.png")), blend(image, mask))
    assert not list((tmp / "out").glob("broken*"))


def test_segment_with_given_latents_labels_their_renderings(world):
    g, seg, wplus, labels, tmp = world
    save_wplus(tmp / "w.safetensors", wplus[:2])
    images = [str(tmp / "images" / f"img{i}.png") for i in range(2)]
    assert main(["segment", *images, "--bundle", str(tmp / "bundle"), "--latent", str(tmp / "w.safetensors"),
                 "--precision", "fp32", "--out", str(tmp / "out")]) == 0  # the labels were made in float32
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp / "out" / f"img{i}.labels.png")), labels[i].numpy())
    assert main(["segment", images[0], "--bundle", str(tmp / "bundle"), "--latent", str(tmp / "w.safetensors"),
                 "--out", str(tmp / "out")]) == 1


def test_blend_is_the_half_way_mix_and_resizes_the_mask():
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)  # [1, 2, 3] -> nearest to 4x4
    out = blend(image, mask)
    assert out.shape == (4, 4, 3) and out[0, 0, 0] == 50 and out[3, 3, 0] == 178  # round(177.5)


def train_args(tmp, *extra):
    return ["train", "segmenter", "--bundle", str(tmp / "bundle"), "--images", str(tmp / "images"),
            "--masks", str(tmp / "masks"), "--embed-steps", "2", "--members", "2", "--max-steps", "20",
            "--out", str(tmp / "seg"), *extra]


def test_train_segmenter_from_images_saves_latents_and_provenance(world, capsys):
    g, seg, wplus, labels, tmp = world
    assert main(train_args(tmp)) == 0
    latents = load_tensors(tmp / "seg" / "annotations.wplus.safetensors")
    assert sorted(latents) == ["img0", "img1", "img2"] and latents["img0"].shape == (g.config.num_ws, g.config.w_dim)
    prov = __import__("json").loads((tmp / "seg" / "segmenter.json").read_text())["provenance"]
    assert prov["num_annotations"] == 3 and prov["images"] == ["img0", "img1", "img2"]
    assert prov["embed_steps"] == 2 and prov["train_steps"] == 20 and prov["perceptual"] == "msssim_l1"
    assert np.isfinite(prov["final_loss"]) and prov["wall_time_s"] >= 0
    assert "segmenter" not in open_bundle(tmp / "bundle").manifest.get("provenance", {})  # --out: bundle untouched
    # the saved latents reproduce the run without embedding
    assert main(["train", "segmenter", "--bundle", str(tmp / "bundle"), "--latents",
                 str(tmp / "seg" / "annotations.wplus.safetensors"), "--masks", str(tmp / "masks"),
                 "--members", "2", "--max-steps", "20", "--out", str(tmp / "seg2")]) == 0
    a = load_tensors(tmp / "seg" / "segmenter.safetensors")
    b = load_tensors(tmp / "seg2" / "segmenter.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_segmenter_embeds_from_the_bundles_encoder(world):
    from editgan.inversion.optimize import encode
    from editgan.io.images import load_image
    from editgan.nn.encoder import Encoder, EncoderConfig

    g, tmp = world[0], world[-1]
    torch.manual_seed(0)
    E = Encoder(EncoderConfig(g.config.resolution, g.num_ws, g.config.w_dim, channels=4, max_channels=8,
                              fpn_channels=8), g.w_avg)
    with torch.no_grad():
        for head in E.heads:
            head.linear.weight.normal_(0, 0.3)
    E.save_pretrained(tmp / "bundle")
    assert main(train_args(tmp, "--embed-steps", "0")) == 0
    latents = load_tensors(tmp / "seg" / "annotations.wplus.safetensors")
    image = load_image(tmp / "images" / "img1.png", g.config.resolution)
    torch.testing.assert_close(latents["img1"], encode(E, image)[0])
    prov = __import__("json").loads((tmp / "seg" / "segmenter.json").read_text())["provenance"]
    assert prov["embed_init"] == "encoder"


@pytest.mark.parametrize("damage, message", [
    (lambda tmp: (tmp / "masks" / "img1.png").unlink(), r"img1.png needs exactly one mask"),
    (lambda tmp: Image.new("RGB", (16, 16)).save(tmp / "images" / "img1.png"), r"img1.png is 16x16"),
    (lambda tmp: (tmp / "images" / "img1.png").write_bytes(b"junk"), r"img1.png: not an image"),
    (lambda tmp: Image.new("L", (32, 32), 9).save(tmp / "masks" / "img2.png"), r"img2.png has labels \[9\]"),
])
def test_train_segmenter_from_images_refuses_bad_annotations(world, capsys, damage, message):
    tmp = world[-1]
    damage(tmp)
    assert main(train_args(tmp)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and __import__("re").search(message, err)
    assert not (tmp / "seg").exists()


def test_train_segmenter_from_tuned_images_learns_g_prime_features(world):
    tmp = world[-1]
    assert main(train_args(tmp, "--tune-steps", "3", "--out", str(tmp / "tuned"))) == 0
    from editgan.annotate.store import tuning_of
    tunings = [tuning_of(tmp / "tuned", f"img{i}") for i in range(3)]
    assert all(t is not None and t.info["steps"] == 3 for t in tunings)
    prov = __import__("json").loads((tmp / "tuned" / "segmenter.json").read_text())["provenance"]
    assert prov["tuned"] is True
    # retraining from the saved latents and tunings gives the same segmenter; without tunings, another
    common = ["train", "segmenter", "--bundle", str(tmp / "bundle"), "--masks", str(tmp / "masks"), "--members", "2",
              "--max-steps", "20"]
    assert main([*common, "--latents", str(tmp / "tuned" / "annotations.wplus.safetensors"),
                 "--out", str(tmp / "again")]) == 0
    a, b = load_tensors(tmp / "tuned" / "segmenter.safetensors"), load_tensors(tmp / "again" / "segmenter.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    (tmp / "bare").mkdir()
    (tmp / "bare" / "annotations.wplus.safetensors").write_bytes(
        (tmp / "tuned" / "annotations.wplus.safetensors").read_bytes())
    assert main([*common, "--latents", str(tmp / "bare" / "annotations.wplus.safetensors"), "--out", str(tmp / "c")]) == 0
    c = load_tensors(tmp / "c" / "segmenter.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)
