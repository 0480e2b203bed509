"""Pivotal tuning: it reconstructs what W+ cannot reach, the locality term keeps G' near G away from
the pivot, the low-rank delta is W + B A exactly, and tuning files round-trip and refuse what is not theirs."""

import copy

import numpy as np
import pytest
import torch

from editgan.errors import CheckpointError, InputError
from editgan.files import load_tensors, read_tensor_metadata, save_tensors
from editgan.inversion.optimize import embed
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import embed_settings
from editgan.io.latents import load_tuning, load_wplus, save_wplus
from editgan.nn.tuning import Tuning, factor_shapes, generator_digest, tunable_weights


def unreachable_target(G, seed=5):
    """A smooth image no w+ of the tiny generator draws exactly: a colour gradient with a bright disc."""
    h, w = G.config.image_size
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    disc = ((xx - 0.3).square() + (yy + 0.2).square() < 0.15).float()
    return torch.stack([xx * 0.8, yy * 0.6, disc * 1.6 - 0.8])[None].clamp(-1, 1)


@pytest.fixture
def pivot(tiny_generator):
    x = unreachable_target(tiny_generator)
    return x, embed(tiny_generator, x, steps=30, lr=0.05).wplus


def test_tuning_lowers_the_error_w_plus_cannot(tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.no_grad():
        w_error = (G.synthesis(w) - x).square().mean().item()
    result = tune(G, x, w, steps=60, lr=0.03, rank=4, locality_weight=0.0)
    tuned_error = (result.reconstruction - x).square().mean().item()
    assert tuned_error < w_error / 3
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # G itself never changes
    assert len(result.losses) == 60 and result.losses[-1]["loss"] < result.losses[0]["loss"]


def test_tuned_generator_is_w_plus_b_a_by_hand(tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    tuning = tune(G, x, w, steps=5, lr=0.05, rank=3).tunings[0]
    tuned = tuning.apply(G)
    for name, weight in tunable_weights(G).items():
        b, a = tuning.factors[name]
        assert (tuple(b.shape), tuple(a.shape)) == factor_shapes(weight, 3)
        by_hand = weight.double() + (b.double() @ a.double()).view_as(weight)
        assert torch.allclose(dict(tuned.synthesis.named_parameters())[name].double(), by_hand, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(tuned.synthesis(w), tune(G, x, w, steps=5, lr=0.05, rank=3).reconstruction, atol=1e-5)
    shapes = [factor_shapes(wt, 3) for wt in tunable_weights(G).values()]
    assert tuning.num_values() == sum(b[0] * b[1] + a[0] * a[1] for b, a in shapes)


def test_locality_keeps_g_prime_near_g_away_from_the_pivot(tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    far = G.z_to_wplus(G.sample_z(6, seed=123)).detach()

    def drift(tuning):
        with torch.no_grad():
            return (tuning.apply(G).synthesis(far) - G.synthesis(far)).abs().mean().item()

    with torch.no_grad():
        spread = (G.synthesis(far) - G.synthesis(w)).abs().mean().item()  # how different the far images are
    free = tune(G, x, w, steps=100, lr=0.01, rank=4, locality_weight=0.0).tunings[0]
    local = tune(G, x, w, steps=100, lr=0.01, rank=4, locality_weight=3.0, locality_step=1.0).tunings[0]
    assert drift(local) < 0.35 * drift(free)  # measured: 0.067 against 0.34
    assert drift(local) < 0.1 * spread  # measured: 0.064 of it


def test_tuning_file_round_trips_exactly(tmp_path, tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    tuning = tune(G, x, w, steps=3, lr=0.05, rank=2).tunings[0]
    path = save_wplus(tmp_path / "me.wplus.safetensors", w, tuning=tuning, metadata={"source": "me.png"})
    loaded = load_tuning(path)
    assert loaded.generator == tuning.generator == generator_digest(G) and loaded.info == tuning.info
    assert loaded.factors.keys() == tuning.factors.keys()
    assert all(torch.equal(loaded.factors[k][i], tuning.factors[k][i]) for k in tuning.factors for i in (0, 1))
    assert torch.equal(load_wplus(path, G.num_ws, G.config.w_dim), w)
    with torch.no_grad():
        assert torch.equal(loaded.apply(G).synthesis(w), tuning.apply(G).synthesis(w))
    assert read_tensor_metadata(path)["source"] == "me.png"
    assert load_tuning(save_wplus(tmp_path / "plain.safetensors", w)) is None


def test_a_tuning_for_another_generator_is_refused_in_one_line(tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    tuning = tune(G, x, w, steps=2, lr=0.05, rank=2).tunings[0]
    other = copy.deepcopy(G)
    with torch.no_grad():
        other.synthesis.b4.conv1.weight.add_(1e-3)
    with pytest.raises(CheckpointError, match=r"belongs to generator [0-9a-f]{12}, not to this one") as err:
        tuning.apply(other)
    assert "\n" not in str(err.value)


def test_truncated_and_hostile_tuning_files_are_refused(tmp_path, tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    tuning = tune(G, x, w, steps=2, lr=0.05, rank=2).tunings[0]
    path = save_wplus(tmp_path / "t.safetensors", w, tuning=tuning)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_tuning(cut)
    tensors, meta = load_tensors(path), read_tensor_metadata(path)
    name = next(iter(tuning.factors))
    cases = {
        "no generator digest": (tensors, {**meta, "tuning.generator": "abc"}),
        "finite float matrix": ({**tensors, f"tuning.{name}.a": torch.full((2, 3), float("nan"))}, meta),
        "lacks one of its two factors": ({k: v for k, v in tensors.items() if k != f"tuning.{name}.b"}, meta),
        "unexpected tuning tensor": ({**tensors, "tuning.x/../y": torch.zeros(1, 1)}, meta),
        "not JSON": (tensors, {**meta, "tuning.info": "{"}),
    }
    for message, (t, m) in cases.items():
        bad = tmp_path / "bad.safetensors"
        save_tensors(bad, t, m)
        with pytest.raises(CheckpointError, match=message):
            load_tuning(bad)
    wrong_shape = {**tensors, f"tuning.{name}.b": torch.zeros(tensors[f"tuning.{name}.b"].shape[0] + 1, 2)}
    save_tensors(tmp_path / "shape.safetensors", wrong_shape, meta)
    with pytest.raises(CheckpointError, match="do not fit its weight"):
        load_tuning(tmp_path / "shape.safetensors").apply(G)
    unknown = {f"tuning.mapping.fc0.weight.{h}": t for h, t in (("a", torch.zeros(2, 4)), ("b", torch.zeros(4, 2)))}
    save_tensors(tmp_path / "name.safetensors", {"wplus": w, **unknown}, meta)
    with pytest.raises(CheckpointError, match="synthesis lacks"):
        load_tuning(tmp_path / "name.safetensors").apply(G)


def test_min_resolution_tunes_only_the_finer_blocks(tiny_generator, pivot):
    """Blocks below min_resolution keep G's weights exactly; the others carry the tuning, the tuning
    records the choice, and the settings field reaches `tune`."""
    G = tiny_generator
    x, w = pivot
    finest = G.synthesis.resolutions[-1]
    tuning = tune(G, x, w, steps=4, lr=0.05, rank=2, min_resolution=finest).tunings[0]
    assert tuning.factors and all(name.startswith(f"b{finest}.") for name in tuning.factors)
    assert set(tuning.factors) == set(tunable_weights(G, finest)) < set(tunable_weights(G))
    assert tuning.info["min_resolution"] == finest
    tuned = dict(tuning.apply(G).synthesis.named_parameters())
    for name, weight in G.synthesis.named_parameters():
        changed = not torch.equal(tuned[name], weight)
        assert changed == (name in tuning.factors), name
    assert embed_settings({"preset": "faithful", "tune_min_resolution": 32}).tuning_options()["min_resolution"] == 32
    beyond = tune(G, x, w, steps=1, min_resolution=2 * finest).tunings[0]  # a preset's 32 on a 16-px generator
    assert set(beyond.factors) == set(tuning.factors) and beyond.info["min_resolution"] == finest
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError, match="min_resolution"):
            tune(G, x, w, steps=1, min_resolution=bad)


def test_bad_tuning_arguments(tiny_generator, pivot):
    x, w = pivot
    with pytest.raises(InputError, match="rank"):
        tune(tiny_generator, x, w, steps=1, rank=0)
    with pytest.raises(InputError, match="one pivot per image"):
        tune(tiny_generator, x, torch.cat([w, w]), steps=1)
    with pytest.raises(InputError, match="holds w\\+ only|one image"):
        save_wplus("x.safetensors", torch.cat([w, w]), tuning=Tuning({}, "0" * 64))


def test_fidelity_against_float64_and_the_warning_limits():
    from editgan.errors import ConfigError
    from editgan.inversion.fidelity import Fidelity, FidelityLimits, measure_fidelity

    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    got = measure_fidelity(a, b, "msssim_l1")
    mse = ((a.double() - b.double()) / 2).square().mean(dim=(1, 2, 3))
    assert [f.psnr for f in got] == pytest.approx((10 * torch.log10(1 / mse)).tolist(), abs=1e-4)
    assert measure_fidelity(a, a, "msssim_l1")[0].distance == pytest.approx(0, abs=1e-5)
    limits = FidelityLimits.from_manifest({"psnr_floor": 25, "perceptual_ceiling": 0.05, "source": "test"})
    assert limits.warning(Fidelity(30.0, 0.01, "msssim_l1")) is None
    far = limits.warning(Fidelity(20.0, 0.01, "msssim_l1"))
    assert "far from anything the generator draws" in far and "\n" not in far
    assert limits.warning(Fidelity(30.0, 0.2, "msssim_l1")) is not None
    assert FidelityLimits.from_manifest(None) is None
    with pytest.raises(ConfigError, match="psnr_floor"):
        FidelityLimits.from_manifest({"psnr_floor": "high"})


def test_editor_embed_with_tuning_reports_and_routes(tmp_path, tiny_generator):
    from edit_fixtures import make_tiny_segmenter, write_edit_bundle
    from editgan.bundle import open_bundle
    from editgan.editor import Editor
    from editgan.files import read_json, write_json

    write_edit_bundle(tmp_path / "b", tiny_generator, make_tiny_segmenter(tiny_generator))
    manifest = read_json(tmp_path / "b" / "manifest.json")
    write_json(tmp_path / "b" / "manifest.json", {**manifest, "fidelity": {"psnr_floor": 99, "perceptual_ceiling": 1}})
    editor = Editor(open_bundle(tmp_path / "b"))
    x = torch.cat([unreachable_target(tiny_generator)] * 2)
    result = editor.embed(x, steps=3, tune=True, tune_steps=4)
    assert len(result.tunings) == 2 and result.settings.tune_steps == 4
    assert result.pivot_fidelity[0].psnr < result.fidelity[0].psnr  # tuning reconstructs better than W+ alone
    assert all("far from anything" in w for w in result.warnings)  # a floor of 99 dB: every image is far
    one = result.select(1)
    assert torch.allclose(editor.render(one), result.reconstruction[1:], atol=1e-5)
    assert torch.allclose(editor.render(one.wplus), result.pivot_reconstruction[1:], atol=1e-5)
    assert editor.segment(one).shape == editor.segment(one.wplus).shape
    with pytest.raises(InputError, match="one generator each"):
        editor.render(result)
    untuned = editor.embed(x[:1], steps=2, tune=False)
    assert untuned.tunings is None and untuned.pivot_reconstruction is None


def test_the_kept_tuning_is_the_best_step_never_worse_than_the_pivot(tiny_generator, pivot):
    G = tiny_generator
    x, w = pivot
    with torch.no_grad():
        pivot_error = (G.synthesis(w) - x).square().mean().item()
    result = tune(G, x, w, steps=15, lr=50.0, rank=4, locality_weight=0.0)  # an lr that diverges
    assert (result.reconstruction - x).square().mean().item() <= pivot_error + 1e-6
    tuning = result.tunings[0]
    totals = [s["l2"] + s["perceptual"] for s in result.losses]
    assert tuning.info["best_step"] == int(np.argmin(totals)) or tuning.info["best_step"] == 15
    with torch.no_grad():
        assert torch.allclose(tuning.apply(G).synthesis(w), result.reconstruction, atol=1e-5)
