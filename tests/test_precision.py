"""bfloat16 on the user-facing paths: the generator and segmenter compute in bf16 while w+, Adam and the
losses stay float32. Referee: the same computation in float32 (gradients, predictions, the edit's effect)."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

import editgan
from edit_fixtures import MOUTH, make_tiny_segmenter, painted_target, write_edit_bundle
from editgan.edit.losses import ensemble_logits
from editgan.edit.optimize import learn_edit
from editgan.errors import ConfigError, InputError
from editgan.inversion.optimize import embed
from editgan.inversion.pivotal import tune
from editgan.nn.segmenter import Segmenter, render_and_segment, segmentation_features
from editgan.runtime.precision import choose_precision, layer_dtype

BF16 = torch.bfloat16


@pytest.fixture
def world(tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    w = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1)).contiguous()
    return tiny_generator, seg, w, painted_target(tiny_generator, seg, w)


def edit_objective_grad(G, seg, w, target, dtype):
    """d(L2 to a fixed image + CE of the segmenter at the painted pixels) / d w+, with the networks in `dtype`."""
    w = w.clone().requires_grad_(True)
    image, feats = segmentation_features(G, w, seg.config, dtype=dtype)
    pixels = torch.zeros(seg.config.out_size, dtype=torch.bool)
    pixels[6:22, 6:22] = True
    logits = ensemble_logits(seg.inference.member_logits(feats, pixels), "mean_logits")
    ce = F.cross_entropy(logits, target.flatten(1)[:, pixels.flatten()])
    loss = image.square().mean() + ce
    return torch.autograd.grad(loss, w)[0], image, logits


def test_wplus_gradients_in_bf16_track_float32(world):
    G, seg, w, target = world
    g32, image32, logits32 = edit_objective_grad(G, seg, w, target, None)
    g16, image16, logits16 = edit_objective_grad(G, seg, w, target, BF16)
    assert image16.dtype == logits16.dtype == torch.float32 and g16.dtype == torch.float32
    assert F.cosine_similarity(g16.flatten(), g32.flatten(), dim=0) > 0.99
    assert (image16 - image32).abs().max() < 0.1 and (image16 - image32).abs().mean() < 0.01


def one_member(seg: Segmenter) -> Segmenter:
    """The first member of `seg` alone (a display segmenter's shape)."""
    single = Segmenter(dataclasses.replace(seg.config, num_members=1), seeds=[0])
    single.load_state_dict({k: v[:1] for k, v in seg.state_dict().items()})
    return single.eval()


@pytest.mark.parametrize("members", [1, 2])
def test_bf16_segmentation_agrees_with_float32(world, members):
    G, seg, w, _ = world
    seg = seg if members == 2 else one_member(seg)
    image32, seg32 = render_and_segment(G, seg, w)
    image16, seg16 = render_and_segment(G, seg, w, dtype=BF16)
    assert seg16.probs.dtype == seg16.uncertainty.dtype == torch.float32
    assert (seg16.probs - seg32.probs).abs().mean() < 0.02
    assert (seg16.labels == seg32.labels).float().mean() > 0.97


def test_an_edit_in_bf16_moves_the_same_parts_as_in_float32(world):
    G, seg, w, target = world
    results = [learn_edit(G, seg, w, target, [MOUTH], steps=30, lr=0.05, buffer=1, dtype=dtype)
               for dtype in (None, BF16)]
    moved = [(r.image_after - r.image_before).abs().amax(1) > 0.05 for r in results]
    overlap = (moved[0] & moved[1]).sum() / (moved[0] | moved[1]).sum()
    assert overlap > 0.7
    inside = results[0].region[:, 0] > 0.5
    for r in results:  # both reach the painted labels inside the region
        hit = [(labels == target)[inside].float().mean() for labels in (r.labels_before, r.labels_after)]
        assert hit[1] > hit[0] + 0.2
    assert results[1].delta.dtype == torch.float32
    assert F.cosine_similarity(results[0].delta.flatten(), results[1].delta.flatten(), dim=0) > 0.9


def test_embedding_and_tuning_in_bf16_reach_float32_quality(tiny_generator):
    G = tiny_generator
    x = G.synthesis(G.z_to_wplus(G.sample_z(1, seed=4)), noise_mode="const")
    runs = {dtype: embed(G, x, steps=40, lr=0.05, perceptual="msssim_l1", dtype=dtype) for dtype in (None, BF16)}
    errors = {dtype: float((r.reconstruction - x).square().mean()) for dtype, r in runs.items()}
    start = float((G.synthesis(G.w_avg.expand(1, G.num_ws, -1), noise_mode="const") - x).square().mean())
    assert runs[BF16].wplus.dtype == torch.float32
    assert errors[BF16] < 0.5 * start and errors[BF16] < 2 * errors[None] + 1e-4
    tuned = {dtype: tune(G, x, runs[None].wplus, steps=20, lr=1e-2, locality_weight=0.0, dtype=dtype)
             for dtype in (None, BF16)}
    tuned_errors = {dtype: float((t.reconstruction - x).square().mean()) for dtype, t in tuned.items()}
    assert tuned_errors[BF16] < errors[None] and tuned_errors[BF16] < 2 * tuned_errors[None] + 1e-4


def test_editor_precision_runs_every_path_in_bf16(tmp_path, tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    write_edit_bundle(tmp_path / "b", tiny_generator, seg)
    eds = {p: editgan.load(tmp_path / "b", precision=p) for p in ("fp32", "bf16")}
    assert eds["fp32"].compute_dtype is None and eds["bf16"].compute_dtype is BF16
    w = eds["fp32"].sample(3)
    images = {p: ed.render(w) for p, ed in eds.items()}
    assert images["bf16"].dtype == torch.float32 and 0 < (images["bf16"] - images["fp32"]).abs().max() < 0.1
    target = painted_target(tiny_generator, seg, w)
    result, vector = eds["bf16"].edit(w, target, ["mouth"], steps=5, buffer=1)
    assert vector.delta.dtype == torch.float32 and len(result.losses) == 6
    w2, image = eds["bf16"].apply(w, {vector: 1.0}, refine_steps=2)
    assert w2.dtype == image.dtype == torch.float32
    embedded = eds["bf16"].embed(images["fp32"], steps=3, tune_steps=2, perceptual="msssim_l1", use_encoder=False)
    assert embedded.wplus.dtype == torch.float32 and eds["bf16"].segment(embedded).shape == (1, 32, 32)


def test_precision_names():
    assert choose_precision("fp32", "cpu") == "fp32" and choose_precision("bf16", "cpu") == "bf16"
    assert choose_precision("auto", "cpu") in ("fp32", "bf16")
    with pytest.raises(ConfigError, match="precision must be one of"):
        editgan.load("toonfaces", precision="fp16")


def test_a_frozen_layer_prepares_its_weight_once_and_follows_every_change(tiny_generator):
    G = tiny_generator  # frozen: requires_grad off
    w = G.z_to_wplus(G.sample_z(1, seed=2))
    layer = G.synthesis.b8.conv1
    first = G.synthesis(w, dtype=BF16)
    prepared = layer.prepared_weight(BF16)
    assert prepared is layer.prepared_weight(BF16) and prepared.cast.dtype == BF16  # kept while unchanged
    assert torch.equal(prepared.square_sums, layer.weight.square().sum(dim=[2, 3]))
    with torch.no_grad():
        layer.weight.mul_(0.5).add_(0.1)  # an in-place change (a loaded state dict, an EMA update)
    changed = G.synthesis(w, dtype=BF16)
    assert layer.prepared_weight(BF16) is not prepared
    fresh = copy.deepcopy(G)
    for module in fresh.modules():
        if hasattr(module, "_prepared"):
            module._prepared = None  # nothing prepared: computed from the weights in this call
    assert torch.equal(changed, fresh.synthesis(w, dtype=BF16)) and not torch.equal(changed, first)
    layer.weight.requires_grad_(True)  # training: nothing is kept, gradients reach the weight
    assert layer.prepared_weight(BF16) is None
    G.synthesis(w, dtype=BF16).square().mean().backward()
    assert layer.weight.grad is not None


def test_bad_precisions_and_edit_segmenters_are_refused_in_one_line(capsys, world):
    from editgan.cli import main

    assert layer_dtype("fp32") is None and layer_dtype("bf16") is BF16
    with pytest.raises(ConfigError, match="precision must be one of"):
        layer_dtype("auto")  # resolve "auto" first (choose_precision)
    for argv in (["embed", "x.png", "--precision", "fp16"],
                 ["edit", "--seed", "1", "--target", "t.png", "--parts", "mouth", "--out", "o",
                  "--edit-segmenter", "fast"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert len(errors) == 1 and "invalid choice" in errors[0]
    G, seg, w, _ = world  # pre-activations of one member, not of the ensemble's
    with pytest.raises(InputError, match="pre-activations must be"):
        seg.tail_pixel_major(torch.zeros(4, seg.config.hidden[0]))
