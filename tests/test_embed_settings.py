"""EmbedSettings: presets, manifest resolution, field overrides, and every entry point embedding the same way."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from batch_fixtures import write_batch_world
from edit_fixtures import make_tiny_segmenter, write_edit_bundle
from editgan.bundle import open_bundle
from editgan.cli import main
from editgan.editor import Editor
from editgan.errors import InputError
from editgan.files import read_json, read_tensor_metadata, write_json
from editgan.inversion import optimize
from editgan.inversion.settings import FAITHFUL, PAPER, PRESETS, RELEASE, EmbedSettings, embed_settings
from editgan.io.images import to_uint8
from editgan.io.latents import load_tuning
from editgan.nn.segmenter import render_and_segment

torch.set_num_threads(1)
# the release preset without its encoder term (the tiny bundles have no encoder): its steps and schedule
RELEASE_NO_ENCODER = {"preset": "release", "consistency_weight": 0.0}


def test_presets_and_manifest_records_resolve():
    assert embed_settings(None) == PAPER and embed_settings("release") == RELEASE
    assert (PAPER.steps, PAPER.lr, PAPER.schedule, PAPER.lookahead_k, PAPER.keep) == (500, 1e-3, "constant", 5, "best")
    assert (RELEASE.steps, RELEASE.lr, RELEASE.schedule, RELEASE.lookahead_k, RELEASE.keep) == \
        (99, 0.1, "rampdown", 0, "final")
    assert FAITHFUL.tunes and not PAPER.tunes and FAITHFUL.replace(tune_steps=0, tune_min_resolution=0) == PAPER
    assert FAITHFUL.tune_min_resolution == 32 and FAITHFUL.tuning_options()["min_resolution"] == 32
    assert embed_settings({"lr": 0.05}) == PAPER.replace(lr=0.05)  # older manifests: overrides of the paper's
    assert embed_settings({"preset": "release", "steps": 7}) == RELEASE.replace(steps=7)
    for preset in PRESETS.values():
        assert EmbedSettings.from_json(preset.to_json()) == preset


@pytest.mark.parametrize("bad, message", [
    ("fast", "unknown embedding preset 'fast'"),
    ({"preset": "paper", "steps": -1}, "steps must be an integer"),
    ({"preset": "paper", "schedule": "cosine"}, "schedule must be one of"),
    ({"preset": "paper", "locality_step": 2.0}, "locality_step must lie in"),
    ({"preset": "faithful", "tune_min_resolution": -32}, "tune_min_resolution must be an integer"),
    ({"preset": "faithful", "tune_min_resolution": "32"}, "tune_min_resolution must be an integer"),
    ({"preset": "paper", "warp": 1}, "unknown embedding settings config keys"),
    (3, "must be a preset name or a mapping"),
])
def test_bad_settings_are_refused_in_one_line(bad, message):
    with pytest.raises(InputError, match=message) as err:
        embed_settings(bad)
    assert "\n" not in str(err.value)


def test_overrides_keep_what_is_none_and_refuse_unknown_fields():
    assert PAPER.replace(steps=None, lr=0.5) == PAPER.replace(lr=0.5)
    with pytest.raises(InputError, match="unknown embedding settings"):
        PAPER.replace(stepz=3)
    with pytest.raises(InputError, match="tune_lr must be positive"):
        PAPER.replace(tune_lr=0.0)


@pytest.fixture
def release_world(tmp_path, tiny_generator):
    """A bundle (segmenter, two vectors) whose manifest asks for the release's embedding, an image and its mask."""
    write_batch_world(tmp_path)
    manifest = read_json(tmp_path / "b" / "manifest.json")
    write_json(tmp_path / "b" / "manifest.json", {**manifest, "embedding": RELEASE_NO_ENCODER})
    G = open_bundle(tmp_path / "b").generator()
    seg = make_tiny_segmenter(G)
    with torch.no_grad():
        image, out = render_and_segment(G, seg, G.z_to_wplus(G.sample_z(1, seed=3)))
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    Image.fromarray(to_uint8(image)[0]).save(tmp_path / "images" / "face.png")
    Image.fromarray(out.labels[0].numpy().astype(np.uint8), mode="L").save(tmp_path / "masks" / "face.png")
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    """Every W+ optimisation the Editor runs: its steps, lr and schedule (the run itself takes 1 step)."""
    seen = []
    real = optimize.embed

    def spy(G, images, *, steps, lr, schedule, **kwargs):
        seen.append((steps, lr, schedule))
        return real(G, images, steps=1, lr=lr, schedule=schedule, **kwargs)

    monkeypatch.setattr("editgan.editor.embedding.embed", spy)
    return seen


def test_every_entry_point_embeds_with_the_bundles_settings(release_world, calls):
    root = release_world
    image, bundle = str(root / "images" / "face.png"), str(root / "b")
    expected = (RELEASE.steps, RELEASE.lr, RELEASE.schedule)
    Editor(open_bundle(root / "b")).embed(root / "images" / "face.png")
    assert main(["embed", image, "--bundle", bundle, "--out", str(root / "e")]) == 0
    assert main(["segment", image, "--bundle", bundle, "--out", str(root / "s")]) == 0
    assert main(["batch", "apply", image, "--bundle", bundle, "--vector", "up", "--out", str(root / "o")]) == 0
    assert main(["train", "segmenter", "--bundle", bundle, "--images", str(root / "images"), "--masks",
                 str(root / "masks"), "--members", "1", "--max-steps", "2", "--out", str(root / "seg")]) == 0
    assert calls == [expected] * 5
    recorded = json.loads(read_tensor_metadata(root / "e" / "face.wplus.safetensors")["embedding"])
    assert recorded == {**RELEASE.to_json(), "consistency_weight": 0.0, "perceptual": "msssim_l1"}
    calls.clear()
    assert main(["embed", image, "--bundle", bundle, "--embed-steps", "4", "--embed-preset", "paper",
                 "--out", str(root / "e2")]) == 0  # a flag overrides one field of the chosen preset
    assert calls == [(4, PAPER.lr, PAPER.schedule)]


def test_tuning_flows_from_embed_to_every_consumer(release_world, capsys):
    root = release_world
    image, bundle = str(root / "images" / "face.png"), str(root / "b")
    assert main(["embed", image, "--bundle", bundle, "--embed-steps", "2", "--tune-steps", "3",
                 "--out", str(root / "e")]) == 0
    latent = root / "e" / "face.wplus.safetensors"
    line = capsys.readouterr().out
    assert "PSNR" in line and "W+ alone: PSNR" in line and "tuned" in line
    tuning = load_tuning(latent)
    assert tuning is not None and tuning.info["steps"] == 3
    editor = Editor(open_bundle(root / "b"), precision="auto")  # the commands' default precision
    tuned, w = editor.open_latent(latent)
    assert tuned.tuning is tuning or tuned.tuning.generator == tuning.generator
    assert not torch.allclose(tuned.render(w), editor.render(w))
    # segment, vector apply and batch apply draw the latent with its tuned generator
    assert main(["segment", image, "--bundle", bundle, "--latent", str(latent), "--out", str(root / "s")]) == 0
    labels = np.asarray(Image.open(root / "s" / "face.labels.png"))
    np.testing.assert_array_equal(labels, tuned.segment(w)[0].numpy())
    assert main(["vector", "apply", "--bundle", bundle, "--latent", str(latent), "--vector", "up=1",
                 "--out", str(root / "v")]) == 0
    assert load_tuning(root / "v" / "wplus_after.safetensors").generator == tuning.generator
    assert main(["batch", "apply", str(latent), "--bundle", bundle, "--vector", "up", "--out", str(root / "o")]) == 0
    applied = np.asarray(Image.open(root / "o" / "face" / "up=1.png"))
    np.testing.assert_array_equal(applied, to_uint8(tuned.apply(w, {"up": 1.0})[1])[0])
    # a tuning is refused for another generator, in one line
    other = root / "other"
    G = open_bundle(root / "b").generator()
    with torch.no_grad():
        G.synthesis.b4.conv1.weight.mul_(1.01)
    write_edit_bundle(other, G, make_tiny_segmenter(G))
    capsys.readouterr()
    assert main(["segment", image, "--bundle", str(other), "--latent", str(latent), "--out", str(root / "x")]) == 1
    err = capsys.readouterr().err
    assert "belongs to generator" in err and len(err.strip().splitlines()) == 1
