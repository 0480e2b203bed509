"""Embedding by optimisation: convergence on the generator's own samples, frozen networks, kept
best step, noise regulariser and Lookahead against hand computations, and the `embed` CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

from editgan.bundle import write_bundle
from editgan.cli import main
from editgan.errors import InputError
from editgan.files import load_tensors
from editgan.inversion.optimize import embed, noise_regularization, normalize_noise_
from editgan.io.images import save_png, to_uint8
from editgan.lookahead import Lookahead


def own_samples(G, n=2, seed=1):
    with torch.no_grad():
        return G.synthesis(G.z_to_wplus(G.sample_z(n, seed=seed)))


def test_embedding_own_sample_converges(tiny_generator):
    x = own_samples(tiny_generator)
    result = embed(tiny_generator, x, steps=100, lr=0.1)
    first, kept = result.losses[0]["loss"], result.best_loss.mean().item()
    assert len(result.losses) == 101 and result.noise is None
    assert kept < first / 5
    assert result.wplus.shape == (2, tiny_generator.num_ws, tiny_generator.config.w_dim)
    with torch.no_grad():
        assert torch.allclose(result.reconstruction, tiny_generator.synthesis(result.wplus), atol=1e-5)


def test_only_wplus_changes_and_best_step_is_kept(tiny_generator):
    G = tiny_generator.requires_grad_(True)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    x = own_samples(G, n=1)
    init = G.w_avg.expand(1, G.num_ws, -1).clone() + 0.1
    init_copy = init.clone()
    seen = []
    result = embed(G, x, init=init, steps=12, lr=0.5, progress=lambda step, losses: seen.append(step))
    assert seen == list(range(13))
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert all(p.grad is None for p in G.parameters())
    assert torch.equal(init, init_copy)
    totals = [s["loss"] for s in result.losses]
    assert result.best_step.item() == int(np.argmin(totals))
    assert result.best_loss.item() == pytest.approx(min(totals), rel=1e-5)


def test_batch_equals_one_by_one(tiny_generator):
    x = own_samples(tiny_generator, n=2)
    together = embed(tiny_generator, x, steps=6, lr=0.05)
    for i in range(2):
        alone = embed(tiny_generator, x[i:i + 1], steps=6, lr=0.05)
        assert torch.allclose(together.wplus[i], alone.wplus[0], atol=1e-6)


def test_bad_inputs(tiny_generator):
    with pytest.raises(InputError, match=r"\[N, 3, 32, 32\]"):
        embed(tiny_generator, torch.zeros(1, 3, 16, 16), steps=1)
    with pytest.raises(InputError, match="init"):
        embed(tiny_generator, torch.zeros(1, 3, 32, 32), init=torch.zeros(1, 3, 16), steps=1)
    with pytest.raises(InputError, match="msssim_l1"):
        embed(tiny_generator, torch.zeros(1, 3, 32, 32), perceptual="nope", steps=1)


def noise_reg_reference(maps: list[np.ndarray]) -> float:
    """Each map [r, r] float64: at every level (2x2 means down to 8x8, 4x4 maps once) add the
    squared mean of n[y, x] * n[y, x - 1] and of n[y, x] * n[y - 1, x], indices wrapping."""
    total = 0.0
    for n in maps:
        while True:
            r = n.shape[0]
            horiz = sum(n[y, x] * n[y, (x - 1) % r] for y in range(r) for x in range(r)) / r ** 2
            vert = sum(n[y, x] * n[(y - 1) % r, x] for y in range(r) for x in range(r)) / r ** 2
            total += horiz ** 2 + vert ** 2
            if r <= 8:
                break
            n = n.reshape(r // 2, 2, r // 2, 2).mean(axis=(1, 3))
    return total


def test_noise_regularizer_against_loops():
    g = torch.Generator().manual_seed(0)
    shapes = [4, 8, 16, 32]
    noise = [torch.randn(2, 1, r, r, generator=g, dtype=torch.float64) for r in shapes]
    noise[3][1] += torch.linspace(0, 3, 32, dtype=torch.float64)  # correlated along x: a large term
    reg = noise_regularization(noise)
    for i in range(2):
        assert reg[i].item() == pytest.approx(noise_reg_reference([n[i, 0].numpy() for n in noise]), rel=1e-10)
    assert reg[1] > reg[0]
    normalize_noise_(noise)
    for n in noise:
        assert torch.allclose(n.mean(dim=(1, 2, 3)), torch.zeros(2, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(n.square().mean(dim=(1, 2, 3)), torch.ones(2, dtype=torch.float64))


def test_noise_optimisation(tiny_generator):
    x = own_samples(tiny_generator, n=1)
    a = embed(tiny_generator, x, steps=20, lr=0.05, optimize_noise=True, seed=3)
    b = embed(tiny_generator, x, steps=20, lr=0.05, optimize_noise=True, generator=torch.Generator().manual_seed(3))
    c = embed(tiny_generator, x, steps=20, lr=0.05, optimize_noise=True, seed=4)
    assert [n.shape[-1] for n in a.noise] == [r for _, r in tiny_generator.config.feature_shapes()]
    assert all(torch.equal(p, q) for p, q in zip(a.noise, b.noise)) and torch.equal(a.wplus, b.wplus)
    assert not torch.equal(a.noise[0], c.noise[0])
    assert a.losses[-1]["noise"] < a.losses[0]["noise"] / 10
    assert a.best_loss.item() < a.losses[0]["loss"]
    with torch.no_grad():
        recon = tiny_generator.synthesis(a.wplus, noise=a.noise)
    assert torch.allclose(a.reconstruction, recon, atol=1e-5)


def test_lookahead_hand_computed():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = Lookahead(torch.optim.SGD([p], lr=0.1), k=5, alpha=0.5)
    seen = []
    for _ in range(12):
        p.grad = torch.ones(1)  # constant gradient: each fast step moves -0.1
        opt.step()
        seen.append(round(p.item(), 6))
    # fast -0.1..-0.5, slow 0 + 0.5 (-0.5 - 0) = -0.25; fast -0.35..-0.75, slow -0.25 + 0.5 (-0.75 + 0.25) = -0.5
    assert seen == [-0.1, -0.2, -0.3, -0.4, -0.25, -0.35, -0.45, -0.55, -0.65, -0.5, -0.6, -0.7]


def test_lookahead_state_dict_resumes_exactly():
    def run(p, opt, steps):
        for _ in range(steps):
            p.grad = 2 * p.detach() - 1
            opt.step()

    p = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = Lookahead(torch.optim.Adam([p], lr=0.1))
    run(p, opt, 7)
    state, at7 = opt.state_dict(), p.detach().clone()
    run(p, opt, 6)
    q = torch.nn.Parameter(at7.clone())
    resumed = Lookahead(torch.optim.Adam([q], lr=0.1))
    resumed.load_state_dict(state)
    run(q, resumed, 6)
    assert torch.equal(p, q)
    with pytest.raises(ValueError):
        Lookahead(torch.optim.SGD([p], lr=0.1), k=0)


def test_cli_embed_skips_bad_file(tmp_path, tiny_generator, capsys):
    write_bundle(tmp_path / "b", "tiny", tiny_generator)
    images = to_uint8(own_samples(tiny_generator, n=2))
    good = [save_png(tmp_path / f"face{i}.png", images[i]) for i in range(2)]
    bad = tmp_path / "broken.png"
    bad.write_bytes(good[0].read_bytes()[:60])
    out = tmp_path / "out"
    rc = main(["embed", str(good[0]), str(bad), str(good[1]), "--bundle", str(tmp_path / "b"),
               "--embed-steps", "3", "--noise", "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 3" in err
    for path in good:
        saved = load_tensors(out / f"{path.stem}.wplus.safetensors")
        assert saved["wplus"].shape == (tiny_generator.num_ws, tiny_generator.config.w_dim)
        assert len([k for k in saved if k.startswith("noise.")]) == len(tiny_generator.config.feature_shapes())
        assert Image.open(out / f"{path.stem}.recon.png").size == (32, 32)
    assert not (out / "broken.wplus.safetensors").exists()
    assert main(["embed", str(good[0]), "--bundle", str(tmp_path / "b"), "--embed-steps", "1",
                 "--out", str(out / "2")]) == 0
    assert set(load_tensors(out / "2" / "face0.wplus.safetensors")) == {"wplus"}
    assert main(["embed", str(good[0]), "--bundle", str(tmp_path / "b"), "--perceptual", "nope"]) == 1
    assert "msssim_l1" in capsys.readouterr().err


def test_rampdown_schedule_matches_the_projector_formula():
    from editgan.inversion.optimize import rampdown_lr
    # hand values: t=0.01 -> ramp up 0.2; t=0.5 -> peak; t=0.875 -> cos ramp at (1-t)/0.25 = 0.5 -> 0.5
    assert rampdown_lr(0.01, 0.1) == pytest.approx(0.02)
    assert rampdown_lr(0.5, 0.1) == pytest.approx(0.1)
    assert rampdown_lr(0.875, 0.1) == pytest.approx(0.05)
    assert rampdown_lr(1.0, 0.1) == 0.0


def test_release_options_plain_adam_schedule_final_iterate_and_consistency(tiny_generator, monkeypatch):
    """One image, 3 updates with the release's options, against a re-implementation: plain Adam whose
    lr follows rampdown_lr(i / 4, 0.1) at update i = 1..3, loss 10 * D + L2 / 4 + mean (w - E)^2
    with a constant E, and the last iterate returned."""
    from editgan.inversion.optimize import rampdown_lr
    from editgan.registry import PERCEPTUAL
    G = tiny_generator
    x = own_samples(G, n=1, seed=3)
    anchor = torch.randn(1, G.num_ws, G.config.w_dim)
    dist = lambda a, b: (a - b).abs().mean((1, 2, 3))  # noqa: E731  a stand-in perceptual distance
    monkeypatch.setitem(PERCEPTUAL._items, "test_abs", dist)
    result = embed(G, x, steps=3, lr=0.1, schedule="rampdown", lookahead_k=0, pixel_space="unit",
                   consistency_weight=1.0, encode=lambda img: anchor, keep="final", perceptual="test_abs")
    w = G.w_avg.detach().expand(1, G.num_ws, -1).double().clone().requires_grad_(True)
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    for i in range(1, 4):
        recon = G.synthesis(w.float(), noise_mode="const").double()
        loss = 10 * dist(recon, x) + (recon - x).square().mean((1, 2, 3)) / 4 + (w - anchor).square().mean((1, 2))
        (g,) = torch.autograd.grad(loss.sum(), w)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        step = rampdown_lr(i / 4, 0.1) * (m / (1 - 0.9 ** i)) / ((v / (1 - 0.999 ** i)).sqrt() + 1e-8)
        w = (w - step).detach().requires_grad_(True)
    assert torch.allclose(result.wplus.double(), w, atol=1e-4)
    assert int(result.best_step[0]) == 3 and result.losses[0]["consistency"] > 0


def test_embedding_options_refuse_bad_choices(tiny_generator):
    x = own_samples(tiny_generator, n=1)
    for bad in ({"schedule": "cosine"}, {"pixel_space": "bytes"}, {"keep": "median"}, {"consistency_weight": 1.0}):
        with pytest.raises(InputError):
            embed(tiny_generator, x, steps=1, **bad)
