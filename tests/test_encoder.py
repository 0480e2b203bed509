"""Image encoder: network, files, Eq. 6-8 losses, training with exact resume, CLI and embed init."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import make_tiny_generator
from editgan.bundle import open_bundle, write_bundle
from editgan.cli import main
from editgan.errors import CheckpointError, ConfigError, InputError, MissingWeightsError
from editgan.inversion.optimize import encode
from editgan.io.images import load_image
from editgan.nn.encoder import Encoder, EncoderConfig
from editgan.nn.perceptual import msssim_l1
from editgan.runtime.distributed import DistInfo
from editgan.train.encoder_training import EncoderTrainConfig, EncoderTrainer, encoder_losses
from gan_fixtures import RandomSource, run_torchrun

TINY_ENC = dict(channels=4, max_channels=8, fpn_channels=8)
TESTS = Path(__file__).parent
TINY_G = dict(resolution=16, channels={4: 16, 8: 16, 16: 8})


def tiny_generator():
    return make_tiny_generator(**TINY_G)


def tiny_encoder(G, seed=0, zero=False):
    """An encoder for G; heads randomised unless `zero` (so the offsets matter)."""
    torch.manual_seed(seed)
    E = Encoder(EncoderConfig(G.config.resolution, G.num_ws, G.config.w_dim, **TINY_ENC), G.w_avg)
    if not zero:
        with torch.no_grad():
            for head in E.heads:
                head.linear.weight.normal_(0, 0.3)
                head.linear.bias.normal_(0, 0.3)
    return E


def images(n, seed=0, r=16):
    return torch.rand(n, 3, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_shapes_levels_and_config_json():
    cfg = EncoderConfig(32, 8, 16, **TINY_ENC)
    assert (cfg.coarse_resolution, cfg.groups) == (4, (1, 1))
    assert [cfg.level_of(i) for i in range(8)] == ["coarse", "medium"] + ["fine"] * 6
    assert EncoderConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    assert EncoderConfig(256, 18, 512).groups == (3, 4)  # pSp's split
    assert EncoderConfig(256, 18, 512).coarse_resolution == 16
    E = Encoder(cfg)
    assert E(images(3, r=32)).shape == (3, 8, 16)
    levels = E.pyramid(images(2, r=32))
    assert {k: tuple(v.shape) for k, v in levels.items()} == {
        "coarse": (2, 8, 4, 4), "medium": (2, 8, 8, 8), "fine": (2, 8, 16, 16)}


def test_untrained_encoder_returns_w_avg_and_offsets_move_it():
    G = tiny_generator()
    x = images(2)
    assert torch.equal(tiny_encoder(G, zero=True)(x), G.w_avg.expand(2, G.num_ws, -1))
    assert not torch.allclose(tiny_encoder(G)(x), G.w_avg.expand(2, G.num_ws, -1))


def test_bad_configs_and_inputs():
    with pytest.raises(ConfigError, match="power of two"):
        EncoderConfig(24, 6, 16)
    with pytest.raises(ConfigError, match="fine level"):
        EncoderConfig(16, 6, 16, groups=(3, 3))
    with pytest.raises(ConfigError, match="coarse_resolution"):
        EncoderConfig(16, 6, 16, coarse_resolution=8)
    with pytest.raises(ConfigError, match="positive integers"):
        EncoderConfig(16, 6, 16, channels=0)
    with pytest.raises(ConfigError, match=r"unknown encoder config keys: \['width'\]"):
        EncoderConfig.from_json({"resolution": 16, "num_ws": 6, "w_dim": 16, "width": 3})
    with pytest.raises(ConfigError, match="malformed encoder config"):
        EncoderConfig.from_json({"resolution": 16, "num_ws": 6})
    with pytest.raises(ConfigError, match="w_avg"):
        Encoder(EncoderConfig(16, 6, 16), torch.zeros(8))
    E = Encoder(EncoderConfig(16, 6, 16, **TINY_ENC))
    with pytest.raises(InputError, match=r"\[N, 3, 16, 16\]"):
        E(images(1, r=32))
    with pytest.raises(InputError):
        E(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="five"):
        EncoderTrainConfig(lambdas=(1, 2, 3))
    with pytest.raises(InputError, match="perceptual"):
        EncoderTrainConfig(perceptual="nope")
    with pytest.raises(ConfigError, match="divisible"):
        EncoderTrainer(EncoderTrainConfig(batch=3), tiny_generator(), RandomSource(), dist=DistInfo(0, 2, 0))


def test_save_load_round_trip_and_bundle(tmp_path):
    G = tiny_generator()
    E = tiny_encoder(G)
    bundle = write_bundle(tmp_path / "b", "test", G)
    assert not bundle.has("encoder")
    with pytest.raises(MissingWeightsError, match="train encoder"):
        bundle.encoder()
    E.save_pretrained(bundle.path, provenance={"steps": 3})
    bundle = open_bundle(bundle.path)
    assert bundle.has("encoder")
    loaded = bundle.encoder()
    assert loaded.config == E.config and not any(p.requires_grad for p in loaded.parameters())
    x = images(2)
    assert torch.equal(loaded(x), E(x).detach())
    assert torch.equal(encode(bundle, x), E(x).detach())
    assert torch.equal(Encoder.from_pretrained(bundle.path / "encoder.json")(x), loaded(x))
    other = Encoder(EncoderConfig(16, G.num_ws, 16, channels=8, max_channels=8, fpn_channels=8))
    other.save_pretrained(tmp_path / "o")
    meta = json.loads((tmp_path / "o" / "encoder.json").read_text())
    meta["config"] = E.config.to_json()
    (tmp_path / "o" / "encoder.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit"):
        Encoder.from_pretrained(tmp_path / "o")
    (tmp_path / "o" / "encoder.json").write_text(json.dumps({"format": "editgan-generator"}))
    with pytest.raises(CheckpointError, match="not an editgan encoder"):
        Encoder.from_pretrained(tmp_path / "o")


def test_losses_match_independent_computation():
    G, lambdas = tiny_generator(), (2.0, 3.0, 5.0, 7.0, 11.0)
    E = tiny_encoder(G)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    real = images(2, seed=2)
    loss, terms = encoder_losses(E, G, z, real, msssim_l1, lambdas)
    warm, _ = encoder_losses(E, G, z, None, msssim_l1, lambdas)

    w = G.mapping(z)
    x = G.synthesis(w[:, None].repeat(1, G.num_ws, 1), noise_mode="const")
    wp = E(x)
    rec = G.synthesis(wp, noise_mode="const")
    sampling = (5 * msssim_l1(rec, x) + 7 * ((rec - x) ** 2).mean((1, 2, 3))
                + 11 * ((wp - w[:, None]) ** 2).mean((1, 2))).mean()
    rec_real = G.synthesis(E(real), noise_mode="const")
    rgb = (2 * msssim_l1(rec_real, real) + 3 * ((rec_real - real) ** 2).mean((1, 2, 3))).mean()
    torch.testing.assert_close(warm, sampling)
    torch.testing.assert_close(loss, sampling + rgb)
    torch.testing.assert_close(terms["latent_l2"], ((wp - w[:, None]) ** 2).mean())
    assert terms["latent_l2"] > 0 and terms["real_l2"] > 0
    loss.backward()
    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is not None for p in E.parameters())


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def test_bf16_losses_and_gradients_track_float32():
    """Same E, G and draws: the bf16 loss within 2 % of the float32 one, E's whole gradient cosine > 0.99
    and every tensor of 8+ entries > 0.95, float32 gradients on float32 weights; G gets none."""
    G = tiny_generator()
    z, real = torch.randn(4, 16, generator=torch.Generator().manual_seed(1)), images(4, seed=2)
    losses, grads = {}, {}
    for precision in ("fp32", "bf16"):
        E = tiny_encoder(G)
        losses[precision], _ = encoder_losses(E, G, z, real, msssim_l1, precision=precision)
        losses[precision].backward()
        grads[precision] = {k: p.grad for k, p in E.named_parameters()}
        assert all(p.grad is None for p in G.parameters())
    assert losses["bf16"].dtype == torch.float32
    assert abs(float(losses["bf16"]) / float(losses["fp32"]) - 1) < 0.02
    assert all(g.dtype == torch.float32 for g in grads["bf16"].values())
    worst = min((_cosine(grads["fp32"][k], grads["bf16"][k]), k) for k in grads["fp32"] if grads["fp32"][k].numel() >= 8)
    assert worst[0] > 0.95, worst
    assert _cosine(*[torch.cat([g.flatten() for g in grads[p].values()]) for p in ("fp32", "bf16")]) > 0.99


def test_a_resume_may_change_precision(tmp_path):
    G = tiny_generator()
    cfg = EncoderTrainConfig(encoder=TINY_ENC, batch=2, lr=1e-3, seed=3, precision="bf16")
    trainer = EncoderTrainer(cfg, G, RandomSource())
    stats = [trainer.step() for _ in range(3)]
    assert all(np.isfinite(v) for s in stats for v in s.values())
    trainer.save(tmp_path / "ck")
    resumed = EncoderTrainer.from_checkpoint(tmp_path / "ck", G, RandomSource(), precision="fp32")
    assert resumed.config.precision == "fp32" and resumed.step_count == 3
    for k, v in trainer.E.state_dict().items():
        assert torch.equal(v, resumed.E.state_dict()[k]), k
    with pytest.raises(ConfigError, match="precision"):
        EncoderTrainConfig(encoder=TINY_ENC, precision="fp16")


def test_training_reduces_sampling_loss():
    G = tiny_generator()
    cfg = EncoderTrainConfig(encoder=TINY_ENC, batch=4, lr=3e-3, warmup=100, seed=0)
    trainer = EncoderTrainer(cfg, G, RandomSource())
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(5))

    def sampling_loss():
        with torch.no_grad():
            return float(encoder_losses(trainer.E, G, z, None, trainer.distance, cfg.lambdas)[0])

    before = sampling_loss()
    trainer.run(15)
    assert trainer.step_count == 15 and not trainer.joint
    assert sampling_loss() < 0.9 * before


def test_start_from_copies_weights_and_keeps_this_generators_w_avg():
    G_old, G_new = tiny_generator(), make_tiny_generator(**TINY_G, seed=7)
    assert not torch.equal(G_old.w_avg, G_new.w_avg)
    old = tiny_encoder(G_old, seed=2)
    trainer = EncoderTrainer(EncoderTrainConfig(encoder=TINY_ENC, batch=2, seed=0, init="old"), G_new, RandomSource())
    trainer.start_from(old)
    new_state, old_state = trainer.E.state_dict(), old.state_dict()
    assert torch.equal(new_state["w_avg"], G_new.w_avg)
    for k, v in old_state.items():
        if k != "w_avg":
            assert torch.equal(new_state[k], v), k
    x = images(2)
    with torch.no_grad():  # same offsets, measured from the new generator's average latent
        torch.testing.assert_close(trainer.E(x) - G_new.w_avg, old(x) - G_old.w_avg)
    other = Encoder(EncoderConfig(16, G_new.num_ws, G_new.config.w_dim, channels=8, max_channels=8, fpn_channels=8))
    with pytest.raises(ConfigError, match="cannot start from"):
        trainer.start_from(other)
    trainer.step()
    with pytest.raises(ConfigError, match="before the first"):
        trainer.start_from(old)


def test_exact_resume(tmp_path):
    G = tiny_generator()
    cfg = EncoderTrainConfig(encoder=TINY_ENC, batch=2, lr=1e-3, warmup=1, seed=3)
    full = EncoderTrainer(cfg, G, RandomSource())
    stats_full = [full.step() for _ in range(4)]
    assert "real_l2" not in stats_full[0] and "real_l2" in stats_full[1]

    first = EncoderTrainer(cfg, G, RandomSource())
    stats = [first.step() for _ in range(2)]
    first.save(tmp_path / "ck")
    torch.manual_seed(999)  # the checkpoint restores the global RNG too
    resumed = EncoderTrainer.from_checkpoint(tmp_path / "ck", G, RandomSource())
    assert resumed.step_count == 2
    resumed.run(4, on_step=lambda t, s: stats.append(s))
    for k, v in full.E.state_dict().items():
        assert torch.equal(v, resumed.E.state_dict()[k]), k
    assert stats == stats_full
    with pytest.raises(ConfigError, match="different configuration"):
        EncoderTrainer(EncoderTrainConfig(encoder=TINY_ENC, batch=2, lr=1e-3, warmup=1, seed=4), G,
                       RandomSource()).load(tmp_path / "ck")


def test_cli_train_install_resume_and_embed_init(tmp_path):
    G = tiny_generator()
    bundle = write_bundle(tmp_path / "bundle", "test", G, extra={"perceptual": "msssim_l1"})
    data = tmp_path / "pngs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(data / f"{i}.png")
    (data / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "run"
    common = ["train", "encoder", "--bundle", str(bundle.path), "--data", str(data), "--out", str(out),
              "--warmup", "1", "--batch", "2", "--lr", "1e-3", "--channels", "4", "--max-channels", "8",
              "--fpn-channels", "8", "--quiet", "--threads", "1"]
    assert main([*common, "--steps", "2", "--precision", "bf16"]) == 0
    assert (out / "checkpoint.json").is_file() and (out / "encoder.safetensors").is_file()
    assert json.loads((out / "checkpoint.json").read_text())["state"]["config"]["precision"] == "bf16"
    assert not open_bundle(bundle.path).has("encoder")
    assert main([*common, "--steps", "3", "--install", "--precision", "fp32"]) == 0  # a resume may change it
    assert json.loads((out / "checkpoint.json").read_text())["state"]["config"]["precision"] == "fp32"
    bundle = open_bundle(bundle.path)
    assert bundle.has("encoder") and bundle.provenance("encoder")["steps"] == 3
    assert json.loads((out / "encoder.json").read_text())["provenance"]["steps"] == 3
    assert main(["train", "encoder", "--bundle", str(bundle.path), "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "r2"), "--steps", "1"]) == 1

    # fine-tune from the installed encoder: its architecture wins over the (default) width flags
    tune = ["train", "encoder", "--bundle", str(bundle.path), "--data", str(data), "--batch", "2",
            "--quiet", "--threads", "1", "--steps", "1"]
    assert main([*tune, "--out", str(tmp_path / "tune"), "--init", str(bundle.path)]) == 0
    tuned = json.loads((tmp_path / "tune" / "encoder.json").read_text())
    assert tuned["provenance"]["init"] == bundle.path.name and tuned["config"]["channels"] == 4  # portable
    assert main([*tune, "--out", str(tmp_path / "tune2"), "--init", str(tmp_path / "missing" / "x")]) == 1

    emb = tmp_path / "emb"
    assert main(["embed", str(data / "0.png"), "--bundle", str(bundle.path), "--embed-steps", "0", "--out", str(emb)]) == 0
    with safe_open(str(emb / "0.wplus.safetensors"), "pt") as f:
        assert f.metadata()["init"] == "encoder"
        wplus = f.get_tensor("wplus")
    torch.testing.assert_close(wplus, encode(bundle, load_image(data / "0.png", 16))[0])


@pytest.mark.slow
def test_two_process_data_parallel_matches_single_process(tmp_path):
    run_torchrun("ddp_encoder_worker.py", tmp_path)
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    single = EncoderTrainer(EncoderTrainConfig(encoder=TINY_ENC, batch=4, lr=1e-3, warmup=1), tiny_generator(),
                            RandomSource())
    single.run(3)
    # Adam divides by sqrt(v): where a gradient is ~0, rounding differences between the 1- and
    # 2-process sums can flip an update's sign, so a rare element may differ by ~lr per step.
    # Broken averaging would move most elements; require 99.5% to agree to 1e-5.
    agree = total = 0
    for k, v in single.E.state_dict().items():
        agree += int(torch.isclose(r0[k], v, atol=1e-5, rtol=1e-4).sum())
        total += v.numel()
    assert agree / total > 0.995, f"only {agree}/{total} weights agree with the single-process run"


def test_place_on_canvas_puts_content_at_the_crop_and_refuses_other_sizes():
    from editgan.errors import InputError
    from editgan.nn.encoder import place_on_canvas
    x = torch.rand(2, 3, 4, 6)
    canvas = place_on_canvas(x, (1, 0, 4, 6), 6)
    assert canvas.shape == (2, 3, 6, 6) and torch.equal(canvas[:, :, 1:5], x)
    assert (canvas[:, :, 0] == -1).all() and (canvas[:, :, 5] == -1).all()
    assert place_on_canvas(x, None, 6) is x
    with pytest.raises(InputError, match="crop"):
        place_on_canvas(torch.rand(2, 3, 5, 6), (1, 0, 4, 6), 6)
