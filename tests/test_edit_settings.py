"""EditSettings: the paper's and the release's presets, and each recorded choice checked against an
independent computation (final iterate, painted region, nearest features, encoder consistency)."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from edit_fixtures import MOUTH, make_tiny_segmenter, painted_target, write_edit_bundle
from editgan.bundle import open_bundle
from editgan.edit.losses import editing_objective, ensemble_logits
from editgan.edit.optimize import learn_edit, refine
from editgan.edit.settings import PAPER, RELEASE, EditSettings, edit_settings
from editgan.editor import Editor
from editgan.errors import InputError
from editgan.nn.segmenter import Segmenter, segmentation_features


@pytest.fixture
def world(tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    w = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1)).contiguous()
    return tiny_generator, seg, w, painted_target(tiny_generator, seg, w)


def test_presets_hold_the_papers_and_the_releases_numbers():
    assert (PAPER.steps, PAPER.refine_steps, PAPER.lr, PAPER.buffer) == (100, 30, 0.02, 5)
    assert tuple(PAPER.weights) == (15, 1, 10) and tuple(PAPER.refine_weights) == (5, 1, 5)
    assert (PAPER.l2_weight, PAPER.perceptual_weight, PAPER.consistency_weight) == (1, 1, 0)
    # experiments/tool_car.json: "steps": 30 (a loop range(1, 30)), rgb_loss_weight 15,
    # loss_dict p_loss 10, mse_loss 1 (times the tool's constant 5); encoder and CE weights 1
    assert (RELEASE.steps, RELEASE.refine_steps, RELEASE.lr, RELEASE.buffer) == (29, 29, 0.02, 3)
    assert tuple(RELEASE.weights) == (15, 1, 0) and (RELEASE.l2_weight, RELEASE.perceptual_weight) == (5, 10)
    assert RELEASE.consistency_weight == 1 and RELEASE.pixel_space == "unit" and RELEASE.keep == "final"
    assert (RELEASE.region, RELEASE.features, RELEASE.ensemble) == ("painted", "nearest", "mean_logits")


def test_settings_round_trip_and_refuse_bad_values():
    for s in (PAPER, RELEASE):
        assert EditSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    assert edit_settings(None) == PAPER and edit_settings("release") == RELEASE
    assert edit_settings({"preset": "release", "steps": 5}) == dataclasses.replace(RELEASE, steps=5)
    assert PAPER.replace(steps=None, lr=0.1).lr == 0.1
    for bad in ("fast", {"preset": "x"}, {"steps": -1}, {"keep": "median"}, {"lr": float("nan")}, 3,
                {"segmenter": "fast"}):
        with pytest.raises(InputError):
            edit_settings(bad)
    with pytest.raises(InputError, match="unknown edit settings"):
        PAPER.replace(step=3)


def test_final_iterate_is_the_last_one_evaluated(world):
    G, seg, w, target = world
    r = learn_edit(G, seg, w, target, [MOUTH], steps=6, lr=2.0, buffer=1, keep="final")
    assert r.best_step == 6 and len(r.losses) == 7
    image, feats = segmentation_features(G, w + r.delta, seg.config, noise_mode="const")
    again = editing_objective(image, r.image_before, r.region, ensemble_logits(seg.member_logits(feats)), target)
    assert float(again.loss) == pytest.approx(r.losses[-1]["loss"], rel=1e-4)


def test_painted_region_is_the_repainted_pixels_grown_by_the_buffer(world):
    G, seg, w, target = world
    r = learn_edit(G, seg, w, target, [MOUTH], steps=1, region="painted", buffer=2)
    changed = (r.labels_before != target)[0].numpy()
    h, wd = changed.shape
    expected = np.zeros((h, wd), dtype=bool)
    for y, x in zip(*np.nonzero(changed)):  # Chebyshev distance <= 2, inside the image
        expected[max(0, y - 2):y + 3, max(0, x - 2):x + 3] = True
    assert np.array_equal(r.region[0, 0].numpy() > 0.5, expected)
    mask = torch.zeros_like(target, dtype=torch.bool)
    mask[:, 2:4, 2:4] = True
    given = learn_edit(G, seg, w, target, [MOUTH], steps=0, region="painted", buffer=0, painted=mask)
    assert torch.equal(given.region[:, 0] > 0.5, mask)
    with pytest.raises(InputError, match="painted"):
        learn_edit(G, seg, w, target, [MOUTH], steps=0, region="painted", painted=mask.float())


def test_nearest_features_score_like_a_segmenter_built_nearest(world):
    G, seg, w, target = world
    r = learn_edit(G, seg, w, target, [MOUTH], steps=0, buffer=1, features="nearest")
    nearest = Segmenter(dataclasses.replace(seg.config, interpolation="nearest"))
    nearest.load_state_dict(seg.state_dict())
    nearest.eval()
    _, feats = segmentation_features(G, w, seg.config, noise_mode="const")
    ref = editing_objective(r.image_before, r.image_before, r.region, ensemble_logits(nearest.member_logits(feats)),
                            target)
    assert r.losses[0]["ce"] == pytest.approx(float(ref.ce.detach()), rel=1e-5)
    bilinear = learn_edit(G, seg, w, target, [MOUTH], steps=0, buffer=1)
    assert bilinear.losses[0]["ce"] != pytest.approx(r.losses[0]["ce"], rel=1e-3)


def test_consistency_term_pulls_towards_the_encoders_latent(world):
    G, seg, w, target = world
    anchor = torch.randn_like(w)
    seen = []

    def encode(images):
        seen.append(images)
        return anchor

    r = learn_edit(G, seg, w, target, [MOUTH], steps=2, buffer=1, consistency_weight=1.0, encode=encode,
                   pixel_space="unit")
    assert r.losses[0]["consistency"] == pytest.approx(float(((w - anchor) ** 2).mean()), rel=1e-6)
    assert torch.allclose(seen[0], (r.image_before + 1) / 2, atol=1e-6)  # the release feeds E [0, 1] images
    with pytest.raises(InputError, match="encoder"):
        learn_edit(G, seg, w, target, [MOUTH], steps=1, consistency_weight=1.0)
    refined = refine(G, seg, w, r.delta[0], parts=[MOUTH], steps=1, settings=RELEASE)  # no encoder needed
    assert all(step["consistency"] == 0 for step in refined.losses)


def test_editor_uses_the_bundles_settings_and_perceptual(tmp_path, tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    write_edit_bundle(tmp_path / "b", tiny_generator, seg)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["editing"] = {"preset": "release", "consistency_weight": 0.0, "steps": 2}
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    editor = Editor(open_bundle(tmp_path / "b"))
    w = editor.sample(seed=1)
    target = painted_target(tiny_generator, editor.segmenter, w)
    result, vector = editor.edit(w, target, ["mouth"], buffer=1)
    assert vector.created["settings"]["keep"] == "final" and vector.created["settings"]["buffer"] == 1
    assert len(result.losses) == 3 and result.best_step == 2
    assert result.losses[-1]["perceptual"] > 0
    off = editor.edit(w, target, ["mouth"], settings="paper", steps=1, perceptual_weight=0.0)[0]
    assert all(step["perceptual"] == 0 for step in off.losses)
    with pytest.raises(InputError, match="encoder"):
        editor.edit(w, target, ["mouth"], settings="release", steps=1)
