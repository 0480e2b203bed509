"""Distilling a segmenter's ensemble into one pixel MLP (the display segmenter): it moves towards the
ensemble and reproduces its labels; a distilled segmenter round-trips, the Editor shows label maps with
it while edits and uncertainty keep the ensemble, a stale one is ignored, installing a new ensemble
retires it; suggestions need members; the CLI and its refusals."""

import json

import pytest
import torch

import editgan
from conftest import make_tiny_generator
from edit_fixtures import SCHEME, make_tiny_segmenter, write_edit_bundle

from editgan.annotate.suggest import suggest
from editgan.annotate.training import install_segmenter
from editgan.bundle import DISPLAY_SEGMENTER, open_bundle
from editgan.cli import main
from editgan.edit.optimize import learn_edit, refine
from editgan.errors import InputError
from editgan.files import file_sha256
from editgan.io.segmenter_files import load_segmenter, save_segmenter
from editgan.nn.segmenter import Segmenter, render_and_segment
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.train.segmenter_distillation import (DistillSettings, agreement, distill_segmenter,
                                                  distilled_provenance, sample_latents)
from editgan.train.segmenter_training import TrainSettings, extract_features, train_segmenter

torch.set_num_threads(1)
FAST = DistillSettings(samples=24, max_steps=200, batch_pixels=512, window=50, eval_samples=4)


@pytest.fixture(scope="module")
def world():
    """(tiny generator, a 3-member ensemble trained on 4 samples labelled by a sharp random segmenter)."""
    g = make_tiny_generator()
    wplus = g.z_to_wplus(g.sample_z(4, seed=11))
    masks = render_and_segment(g, make_tiny_segmenter(g), wplus)[1].labels
    cfg = SegmenterConfig.for_generator(g.config, 3, num_members=3)
    teacher = Segmenter(cfg, seeds=[0, 1, 2])
    train_segmenter(teacher, extract_features(g, wplus, cfg), masks, TrainSettings(max_steps=200, window=50))
    return g, teacher.requires_grad_(False)


@pytest.fixture(scope="module")
def distilled(world):
    g, teacher = world
    return distill_segmenter(teacher, g, FAST)


def test_distillation_moves_towards_the_ensemble_and_reproduces_its_labels(world, distilled):
    g, teacher = world
    student, report = distilled
    assert student.num_members == 1 and student.config.hidden == teacher.config.hidden and not student.training
    assert report.start.startswith("member ") and len(report.member_kl) == 3
    assert report.after["kl"] < 0.6 * report.before["kl"]
    assert report.after["pixel_accuracy"] > max(0.9, report.before["pixel_accuracy"])
    assert report.after["mean_iou"] > report.before["mean_iou"]
    other = sample_latents(g, 4, seed=99)  # samples neither training nor the report saw
    assert agreement(student, teacher, g, other)["pixel_accuracy"] > 0.9
    again, _ = distill_segmenter(teacher, g, FAST)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), again.state_dict().values()))


def test_chosen_widths_train_from_scratch(world):
    g, teacher = world
    student, report = distill_segmenter(teacher, g, DistillSettings(samples=8, max_steps=60, batch_pixels=512,
                                                                    eval_samples=2), hidden=(16, 8))
    assert student.config.hidden == (16, 8) and report.start == "random" and report.member_kl == []
    assert report.after["kl"] < report.before["kl"]


def test_sampled_latents_mix_styles_deterministically(tiny_generator):
    g = tiny_generator
    plain = sample_latents(g, 6, seed=1)
    assert torch.equal(plain, sample_latents(g, 6, seed=1)) and (plain == plain[:, :1]).all()
    mixed = sample_latents(g, 6, seed=1, mixing=1.0)
    assert torch.equal(mixed[:, 0], plain[:, 0]) and not (mixed == mixed[:, :1]).all(dim=(1, 2)).any()
    assert sample_latents(g, 0, seed=1).shape == (0, g.num_ws, g.config.w_dim)


@pytest.mark.parametrize("change, message", [({"samples": 0}, "samples must be at least 1"),
                                             ({"mixing": 1.5}, "style-mixing probability"),
                                             ({"class_balance": -0.1}, "class_balance"),
                                             ({"eval_samples": -1}, "eval_samples"),
                                             ({"psi": 0.0}, "psi and lr must be positive")])
def test_bad_settings_are_refused(world, change, message):
    g, teacher = world
    with pytest.raises(InputError, match=message):
        distill_segmenter(teacher, g, DistillSettings(**change))


def bundle_with_display(tmp_path, world, distilled):
    """A bundle holding the ensemble and the distilled segmenter as its display segmenter."""
    g, teacher = world
    student, report = distilled
    write_edit_bundle(tmp_path / "b", g, teacher)
    provenance = distilled_provenance(file_sha256(tmp_path / "b" / "segmenter.safetensors"), teacher, FAST, report)
    save_segmenter(student, tmp_path / "b", SCHEME, provenance, name=DISPLAY_SEGMENTER)
    return tmp_path / "b"


def test_editor_shows_labels_with_the_display_segmenter_and_keeps_the_ensemble(tmp_path, world, distilled):
    g, teacher = world
    student = distilled[0]
    path = bundle_with_display(tmp_path, world, distilled)
    loaded, scheme = load_segmenter(path, name=DISPLAY_SEGMENTER)
    assert scheme == SCHEME and all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                                       student.state_dict().values()))
    editor = editgan.load(path, vectors=tmp_path / "vectors")
    assert editor.bundle.display_segmenter_dir == path
    assert editor.segmenter.num_members == 3 and editor.display_segmenter.num_members == 1
    w = editor.sample(5)
    assert torch.equal(editor.segment(w), render_and_segment(g, student, w)[1].labels)
    labels, unc = editor.segment(w, uncertainty=True)
    ensemble = render_and_segment(g, teacher, w)[1]
    assert torch.equal(labels, ensemble.labels) and torch.allclose(unc, ensemble.uncertainty)
    assert torch.equal(editor.segmentation(w)[1].labels, ensemble.labels)
    image, shown = editor.segmentation(w, display=True)
    assert torch.equal(shown.labels, editor.segment(w)) and image.shape[-1] == g.config.resolution

    # a new ensemble makes the display segmenter stale: label maps fall back to the ensemble
    retrained = Segmenter(teacher.config, seeds=[7, 8, 9]).eval()
    save_segmenter(retrained, path, SCHEME)
    editor.reload()
    assert editor.bundle.display_segmenter_dir is None and editor.display_segmenter is editor.segmenter


def test_installing_a_new_ensemble_retires_the_display_segmenter(tmp_path, world, distilled):
    g, teacher = world
    path = bundle_with_display(tmp_path, world, distilled)
    bundle = open_bundle(path)
    result = install_segmenter(bundle, teacher, SCHEME, {"source": "test"})
    assert sorted(p.name for p in result["backup"].iterdir()) == [
        "display_segmenter.json", "display_segmenter.safetensors", "segmenter.json", "segmenter.safetensors"]
    assert not (path / "display_segmenter.json").exists() and open_bundle(path).display_segmenter_dir is None


def test_suggestions_need_an_ensemble(world, distilled):
    g, teacher = world
    wplus = sample_latents(g, 4, seed=3)
    assert suggest(g, teacher, wplus, 2, wplus[:0])[0] == "uncertainty"
    assert suggest(g, distilled[0], wplus, 2, wplus[:0])[0] == "farthest_w"  # one member: no disagreement


def test_cli_installs_or_writes_a_distilled_segmenter(tmp_path, world, capsys):
    g, teacher = world
    write_edit_bundle(tmp_path / "b", g, teacher)
    small = ["--samples", "6", "--max-steps", "20", "--batch-pixels", "256", "--eval-samples", "2"]
    assert main(["bundle", "distill-segmenter", "--bundle", str(tmp_path / "b"), *small]) == 0
    out = capsys.readouterr().out
    assert "agrees with the 3-member ensemble" in out and "display_segmenter.safetensors" in out
    bundle = open_bundle(tmp_path / "b")
    assert bundle.display_segmenter_dir == tmp_path / "b"
    meta = json.loads((tmp_path / "b" / "display_segmenter.json").read_text())
    assert meta["provenance"]["distilled_from"]["sha256"] == file_sha256(tmp_path / "b" / "segmenter.safetensors")
    assert bundle.manifest["provenance"]["display_segmenter"]["distilled_from"]["num_members"] == 3
    assert editgan.load(tmp_path / "b").display_segmenter.num_members == 1

    assert main(["bundle", "distill-segmenter", "--bundle", str(tmp_path / "b"), "--out", str(tmp_path / "plain"),
                 "--hidden", "16", "8", *small]) == 0
    seg, scheme = load_segmenter(tmp_path / "plain")
    assert seg.num_members == 1 and seg.config.hidden == (16, 8) and scheme == SCHEME


def test_cli_refusals(tmp_path, world, capsys):
    g, teacher = world
    write_edit_bundle(tmp_path / "none", g)
    assert main(["bundle", "distill-segmenter", "--bundle", str(tmp_path / "none")]) == 1
    assert "has no segmenter yet" in capsys.readouterr().err
    write_edit_bundle(tmp_path / "b", g, teacher)
    assert main(["bundle", "distill-segmenter", "--bundle", str(tmp_path / "b"), "--samples", "0"]) == 1
    err = capsys.readouterr().err
    assert "samples must be at least 1" in err and len(err.strip().splitlines()) == 1
    assert main(["bundle", "distill-segmenter", "--bundle", str(tmp_path / "b"), "--hidden", "0", "8",
                 "--samples", "2", "--max-steps", "1", "--eval-samples", "0"]) == 1
    assert "hidden must be two positive widths" in capsys.readouterr().err


def test_plateau_stops_after_patience_windows_without_enough_improvement():
    from editgan.train.segmenter_training import Plateau
    losses = [1.0] * 4 + [0.5] * 4 + [0.499] * 4 + [0.6] * 4  # window means 1.0, 0.5, 0.499, 0.6
    means: list[float] = []
    plateau = Plateau(window=4, patience=2, min_rel_improvement=0.01, window_means=means)
    stops = [step for step, loss in enumerate(losses, start=1) if plateau.reached(loss)]
    assert stops == [16]  # 0.499 and 0.6 are not 1 % better than 0.5: two stale windows
    assert means == pytest.approx([1.0, 0.5, 0.499, 0.6])


def test_a_failed_install_keeps_the_bundle_as_it_was(tmp_path, world, distilled, monkeypatch):
    from editgan.annotate import training
    _, teacher = world
    path = bundle_with_display(tmp_path, world, distilled)
    before = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(training, "save_segmenter", broken)
    with pytest.raises(OSError):
        install_segmenter(open_bundle(path), teacher, SCHEME, {"source": "test"})
    assert {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()} == before
    assert open_bundle(path).display_segmenter_dir is not None


def test_edits_and_refinements_can_minimise_the_display_segmenters_cross_entropy(tmp_path, world, distilled):
    g, teacher = world
    student = distilled[0]
    editor = editgan.load(bundle_with_display(tmp_path, world, distilled), vectors=tmp_path / "vectors")
    w = editor.sample(5)
    target = editor.segment(w).clone()
    target[:, 4:12, 4:12] = 1
    fast = dict(steps=3, perceptual_weight=0.0, buffer=1, keep="final")  # "best" can keep δ = 0 for both
    result, vector = editor.edit(w, target, [1], segmenter="display", **fast)
    expected = learn_edit(g, student, w, target, [1], shared=True, **fast)
    assert torch.equal(result.delta, expected.delta) and vector.created["settings"]["segmenter"] == "display"
    assert not torch.equal(editor.edit(w, target, [1], **fast)[0].delta, result.delta)  # the ensemble's
    refined, _ = editor.apply(w, {vector: 1.0}, refine_steps=2, segmenter="display", perceptual_weight=0.0)
    by_hand = refine(g, student, w, vector.delta, 1.0, parts=[1], steps=2, perceptual_weight=0.0)
    assert torch.equal(refined, by_hand.wplus_after)
