"""learn_edit and refine on a tiny random generator + segmenter: the edit happens inside the region,
the image outside stays, the best iterate is returned, networks stay untouched, cancel stops."""

import pytest
import torch

from edit_fixtures import MOUTH, make_tiny_segmenter, painted_target
from editgan.edit.losses import REFINEMENT_WEIGHTS, editing_objective, ensemble_logits
from editgan.edit.optimize import learn_edit, refine
from editgan.errors import InputError
from editgan.nn.segmenter import render_and_segment, segmentation_features


@pytest.fixture
def world(tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    w = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1)).contiguous()
    return tiny_generator, seg, w, painted_target(tiny_generator, seg, w)


def test_learn_edit_moves_the_region_and_keeps_the_rest(world):
    G, seg, w, target = world
    params = {k: v.clone() for k, v in [*G.state_dict().items(), *seg.state_dict().items()]}
    r = learn_edit(G, seg, w, target, [MOUTH], steps=30, lr=0.05, buffer=1)
    first, best = r.losses[0], r.losses[r.best_step]
    assert len(r.losses) == 31 and first["l2"] == 0
    assert best["ce"] < 0.5 * first["ce"]
    assert best["l2"] < 0.02 and float((r.image_after - r.image_before).abs().max()) > 0.05
    inside = r.region[:, 0] > 0.5
    hit_before = (r.labels_before == target)[inside].float().mean()
    hit_after = (r.labels_after == target)[inside].float().mean()
    assert hit_after > hit_before + 0.2
    assert r.delta.shape == w.shape and torch.allclose(r.wplus_after, w + r.delta)
    assert torch.allclose(r.image_after, G.synthesis(w + r.delta, noise_mode="const"))
    state = {**G.state_dict(), **seg.state_dict()}
    assert all(torch.equal(state[k], v) for k, v in params.items())
    assert all(p.grad is None for p in [*G.parameters(), *seg.parameters()])


def test_best_iterate_is_returned(world):
    G, seg, w, target = world
    seen = []
    r = learn_edit(G, seg, w, target, [MOUTH], steps=12, lr=2.0, buffer=1,
                   progress=lambda step, losses: seen.append((step, losses["loss"])))
    totals = [x["loss"] for x in r.losses]
    assert seen == list(enumerate(totals))
    assert r.best_step == totals.index(min(totals))
    # the returned delta reproduces the best iterate's objective
    image, feats = segmentation_features(G, w + r.delta, seg.config, noise_mode="const")
    logits = ensemble_logits(seg.member_logits(feats))
    again = editing_objective(image, r.image_before, r.region, logits, target)
    assert float(again.loss) == pytest.approx(min(totals), rel=1e-4)
    zero = learn_edit(G, seg, w, target, [MOUTH], steps=0)
    assert zero.best_step == 0 and not zero.delta.any()


def test_shared_delta_over_copies_of_one_face_is_the_one_face_edit(world):
    G, seg, w, target = world
    one = learn_edit(G, seg, w, target, [MOUTH], steps=8, lr=0.05, buffer=1)
    three = learn_edit(G, seg, w.repeat(3, 1, 1), target.repeat(3, 1, 1), [MOUTH], steps=8, lr=0.05, buffer=1,
                       shared=True)
    assert three.delta.shape == (3, *w.shape[1:]) and torch.equal(three.delta[0], three.delta[2])
    assert torch.allclose(three.delta[:1], one.delta, atol=1e-5) and three.best_step == one.best_step


def test_shared_delta_minimises_the_mean_of_the_per_face_objectives(world):
    G, seg, _, _ = world
    w = G.z_to_wplus(G.sample_z(2, seed=5)).contiguous()
    target = torch.cat([painted_target(G, seg, w[i:i + 1]) for i in range(2)])
    r = learn_edit(G, seg, w, target, [MOUTH], steps=6, lr=0.05, buffer=1, shared=True)
    assert torch.equal(r.delta[0], r.delta[1]) and r.delta.abs().sum() > 0
    assert not torch.equal(r.region[0], r.region[1])  # the segmenter runs on their union
    per_face = []
    for i in range(2):  # each face's objective on its own, float64, with the shared delta
        G64, seg64 = G.double(), seg.double()
        image, feats = segmentation_features(G64, (w[i:i + 1] + r.delta[i:i + 1]).double(), seg64.config,
                                             noise_mode="const")
        logits = ensemble_logits(seg64.member_logits(feats))
        per_face.append(float(editing_objective(image, r.image_before[i:i + 1].double(), r.region[i:i + 1].double(),
                                                logits, target[i:i + 1]).loss))
    G.float(), seg.float()
    assert r.losses[r.best_step]["loss"] == pytest.approx(sum(per_face) / 2, rel=1e-4)
    separate = learn_edit(G, seg, w, target, [MOUTH], steps=6, lr=0.05, buffer=1)
    assert not torch.allclose(separate.delta[0], separate.delta[1])


def test_cancel_stops_early(world):
    G, seg, w, target = world
    calls = []
    r = learn_edit(G, seg, w, target, [MOUTH], steps=50, buffer=1, cancel=lambda: calls.append(1) or len(calls) >= 3)
    assert r.cancelled and len(r.losses) == 3 and len(calls) == 3


def test_identity_term_only_when_given(world):
    G, seg, w, target = world
    plain = learn_edit(G, seg, w, target, [MOUTH], steps=3, buffer=1)
    assert all(x["identity"] == 0 for x in plain.losses)
    ident = learn_edit(G, seg, w, target, [MOUTH], steps=3, buffer=1,
                       identity=lambda x: x.flatten(1)[:, :64], perceptual=lambda a, b: (a - b).abs().mean((1, 2, 3)))
    assert ident.losses[0]["identity"] == pytest.approx(0, abs=1e-6) and ident.losses[-1]["identity"] > 0
    assert ident.losses[-1]["perceptual"] > 0


def test_refine_beats_plain_application(world, tiny_generator):
    G, seg, w, target = world
    vector = learn_edit(G, seg, w, target, [MOUTH], steps=20, lr=0.05, buffer=1).delta[0]
    other = G.z_to_wplus(G.sample_z(1, seed=7))
    r = refine(G, seg, other, vector, 1.5, parts=[MOUTH], steps=10, buffer=1)
    # iterate 0 is the plain application, scored with the refinement weights
    applied = other + 1.5 * vector
    _, target_applied = render_and_segment(G, seg, applied)
    image, feats = segmentation_features(G, applied, seg.config, noise_mode="const")
    plain = editing_objective(image, r.image_before, r.region, ensemble_logits(seg.member_logits(feats)),
                              target_applied.labels, REFINEMENT_WEIGHTS)
    assert r.losses[0]["loss"] == pytest.approx(float(plain.loss), rel=1e-4)
    assert r.losses[r.best_step]["loss"] < 0.8 * r.losses[0]["loss"]
    assert r.losses[r.best_step]["l2"] < r.losses[0]["l2"]
    assert not torch.equal(r.wplus_after, applied)


def test_refine_checkpoints_equal_shorter_runs(world):
    G, seg, w, target = world
    vector = learn_edit(G, seg, w, target, [MOUTH], steps=10, lr=0.05, buffer=1).delta[0]
    other = G.z_to_wplus(G.sample_z(1, seed=7))
    long = refine(G, seg, other, vector, 1.5, parts=[MOUTH], steps=8, buffer=1, checkpoints=(0, 3, 8, 20))
    assert sorted(long.checkpoint_deltas) == [0, 3]  # only budgets shorter than the run
    for k in (0, 3):
        short = refine(G, seg, other, vector, 1.5, parts=[MOUTH], steps=k, buffer=1)
        torch.testing.assert_close(long.checkpoint_deltas[k], short.delta)
    torch.testing.assert_close(long.checkpoint_deltas[0], 1.5 * vector[None])
    assert not torch.equal(long.checkpoint_deltas[3], long.delta)


def test_refine_without_the_parts_anywhere_returns_the_plain_application(world):
    G, seg, w, target = world
    with torch.no_grad():
        seg.b3[:, MOUTH] = -1e4  # the mouth is never predicted
    vector = 0.1 * torch.randn(G.num_ws, G.config.w_dim, generator=torch.Generator().manual_seed(0))
    _, after = render_and_segment(G, seg, w + vector)
    r = refine(G, seg, w, vector, 1.0, parts=[MOUTH], steps=5, checkpoints=(2,))
    torch.testing.assert_close(r.delta, vector[None])
    assert r.losses == [] and not r.region.any() and torch.equal(r.labels_after, after.labels)
    torch.testing.assert_close(r.checkpoint_deltas[2], vector[None])


def test_bad_inputs(world):
    G, seg, w, target = world
    with pytest.raises(InputError, match="w\\+ must be"):
        learn_edit(G, seg, w[0], target, [MOUTH])
    with pytest.raises(InputError, match="target labels"):
        learn_edit(G, seg, w, target[:, :5], [MOUTH])
    with pytest.raises(InputError, match="target labels"):
        learn_edit(G, seg, w, target.float(), [MOUTH])
    with pytest.raises(InputError, match="parts"):
        learn_edit(G, seg, w, target, [7])
    with pytest.raises(InputError, match="delta must be"):
        refine(G, seg, w, torch.zeros(3, 3), 1.0, parts=[MOUTH])
    nothing = torch.zeros_like(target)
    labels = render_and_segment(G, seg, w)[1].labels
    absent = [k for k in range(3) if not (labels == k).any()]
    if absent:
        with pytest.raises(InputError, match="nothing to edit"):
            learn_edit(G, seg, w, nothing, absent[:1])
