"""GAN training: losses move, exact resume, data-parallel ranks agree, data sources, CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from editgan.editor import Editor
from editgan.cli import main
from editgan.errors import ConfigError, InputError
from editgan.nn import ops
from editgan.nn.stylegan2 import Generator
from editgan.train.data import ImageFileSource
from editgan.train.gan import GANTrainConfig, GANTrainer
from editgan.train.state import load_state, save_state
from gan_fixtures import TINY_TRAIN, RandomSource, params_equal, run_torchrun, straight_and_resumed


def test_steps_update_weights_and_report_losses():
    t = GANTrainer(TINY_TRAIN, RandomSource())
    g0 = {k: v.clone() for k, v in t.G.state_dict().items()}
    stats = [t.step() for _ in range(2)]
    assert {"loss_g", "loss_d", "pl_penalty", "r1_penalty"} <= set(stats[0]) and "r1_penalty" not in stats[1]
    assert all(np.isfinite(v) for s in stats for v in s.values())
    assert not torch.equal(g0["synthesis.b16.conv1.weight"], t.G.state_dict()["synthesis.b16.conv1.weight"])
    assert t.images_seen == 8 and t.step_count == 2
    assert not params_equal(t.G, t.G_ema)  # EMA lags behind


def test_exact_resume(tmp_path):
    straight, resumed = straight_and_resumed(lambda: GANTrainer(TINY_TRAIN, RandomSource()), tmp_path)
    assert resumed.step_count == 4 and torch.equal(straight.pl_mean, resumed.pl_mean)
    assert straight.opt_g.state_dict()["state"][0]["exp_avg"].equal(resumed.opt_g.state_dict()["state"][0]["exp_avg"])


def test_compact_checkpoint_resumes_with_float16_networks(tmp_path):
    t = GANTrainer(TINY_TRAIN, RandomSource())
    for _ in range(2):
        t.step()
    t.save(tmp_path / "full")
    t.save(tmp_path / "compact", compact=True)
    full, compact = (tmp_path / "full.safetensors").stat().st_size, (tmp_path / "compact.safetensors").stat().st_size
    assert compact < 0.4 * full
    r = GANTrainer.from_checkpoint(tmp_path / "compact", RandomSource())
    assert r.step_count == 2 and r.images_seen == t.images_seen and r.opt_g.state_dict()["state"] == {}
    for name in ("G", "D", "G_ema"):
        mine, theirs = getattr(r, name).state_dict(), getattr(t, name).state_dict()
        assert all(torch.equal(mine[k], theirs[k].half().to(mine[k].dtype)) for k in mine), name
    assert np.isfinite(r.step()["loss_d"])


def test_resume_refuses_other_config(tmp_path):
    t = GANTrainer(TINY_TRAIN, RandomSource())
    t.save(tmp_path / "ckpt")
    other = GANTrainer(type(TINY_TRAIN)(**{**TINY_TRAIN.to_json(), "batch": 8}), RandomSource())
    with pytest.raises(ConfigError):
        other.load(tmp_path / "ckpt")


def test_a_resume_may_change_the_learning_rates_and_keeps_adams_moments(tmp_path):
    t = GANTrainer(TINY_TRAIN, RandomSource())
    for _ in range(2):
        t.step()
    t.save(tmp_path / "ck")
    frozen = GANTrainer.from_checkpoint(tmp_path / "ck", RandomSource(), lr_g=0.0, lr_d=0.0)
    assert (frozen.config.lr_g, frozen.config.lr_d) == (0.0, 0.0)
    assert all(g["lr"] == 0.0 for opt in (frozen.opt_g, frozen.opt_d) for g in opt.param_groups)
    assert frozen.opt_d.state_dict()["state"][0]["exp_avg"].equal(t.opt_d.state_dict()["state"][0]["exp_avg"])
    frozen.step()  # Adam at lr 0 moves no parameter (w_avg, a buffer, still tracks); the checkpoint's lr does
    moving = GANTrainer.from_checkpoint(tmp_path / "ck", RandomSource())
    moving.step()
    for name in ("G", "D"):
        trained = dict(getattr(t, name).named_parameters())
        assert all(p.equal(trained[k]) for k, p in getattr(frozen, name).named_parameters()), name
        assert not all(p.equal(trained[k]) for k, p in getattr(moving, name).named_parameters()), name
    halved = GANTrainer.from_checkpoint(tmp_path / "ck", RandomSource(), lr_g=TINY_TRAIN.lr_g / 2)
    assert halved.opt_g.param_groups[0]["lr"] == pytest.approx(t.opt_g.param_groups[0]["lr"] / 2)
    assert halved.opt_d.param_groups[0]["lr"] == t.opt_d.param_groups[0]["lr"]  # D's left as trained
    halved.save(tmp_path / "halved")
    assert GANTrainConfig.from_checkpoint(tmp_path / "halved").lr_g == TINY_TRAIN.lr_g / 2


def _with(**changes) -> GANTrainConfig:
    return GANTrainConfig(**{**TINY_TRAIN.to_json(), **changes})


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def test_bf16_gradients_point_where_float32_ones_do():
    """Same weights and draws, one step in each precision: G's and D's whole gradients have cosine
    > 0.99 with the float32 ones, every tensor of 8+ entries > 0.95 (scalar noise strengths, whose
    gradients are sums that nearly cancel, may flip); float32 masters receive float32 gradients."""
    grads = {}
    for precision in ("fp32", "bf16"):
        t = GANTrainer(_with(precision=precision, pl_weight=0.0), RandomSource())
        t.generator_phase(pl=False)
        grads[precision] = {f"G.{k}": p.grad.clone() for k, p in t.G.named_parameters() if p.grad is not None}
        t.discriminator_phase(r1=False)
        grads[precision].update({f"D.{k}": p.grad.clone() for k, p in t.D.named_parameters()})
    assert grads["fp32"].keys() == grads["bf16"].keys() and len(grads["fp32"]) > 40
    assert all(g.dtype == torch.float32 for g in grads["bf16"].values())
    worst = min((_cosine(grads["fp32"][k], grads["bf16"][k]), k) for k in grads["fp32"] if grads["fp32"][k].numel() >= 8)
    assert worst[0] > 0.95, worst
    for net in ("G.", "D."):
        whole = [torch.cat([g.flatten() for k, g in grads[p].items() if k.startswith(net)]) for p in ("fp32", "bf16")]
        assert _cosine(*whole) > 0.99, net


@pytest.mark.slow
def test_bf16_training_stays_finite_and_tracks_float32():
    """200 steps from the same seed in each precision: every loss and penalty finite, and the
    50-step mean losses of the bf16 run within 10 % of the float32 run's, window by window."""
    curves = {}
    for precision in ("fp32", "bf16"):
        t = GANTrainer(_with(precision=precision), RandomSource())
        stats = [t.step() for _ in range(200)]
        assert all(np.isfinite(v) for s in stats for v in s.values()), precision
        assert all(torch.isfinite(p).all() for p in t.G.parameters())
        curves[precision] = {k: np.array([s[k] for s in stats]).reshape(4, 50).mean(1) for k in ("loss_g", "loss_d")}
    for key in ("loss_g", "loss_d"):
        np.testing.assert_allclose(curves["bf16"][key], curves["fp32"][key], rtol=0.1, err_msg=key)


@pytest.mark.slow
def test_compiled_training_matches_eager():
    """torch.compile'd G and D (bf16, with R1 and path-length steps, which run eagerly): the same
    losses as the eager trainer to bf16 rounding, over 4 steps (~1 min of compiling)."""
    cfg = _with(precision="bf16")
    eager, compiled = GANTrainer(cfg, RandomSource()), GANTrainer(cfg, RandomSource(), compile=True)
    for _ in range(4):
        a, b = eager.step(), compiled.step()
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=2e-2, abs=2e-3), key


def test_precision_is_checked_and_old_checkpoints_read():
    with pytest.raises(ConfigError, match="precision"):
        _with(precision="fp16")
    old = {**TINY_TRAIN.to_json(), "amp": False}
    del old["precision"], old["init"]
    assert GANTrainConfig.from_json(old) == TINY_TRAIN  # checkpoints written before precision existed


def test_grow_from_starts_from_the_smaller_generators_images():
    """A 32px run grown from a trained-looking 16px generator: same mapping and w_avg; at step 0 its
    image is the 16px image upsampled (the new block's ToRGB is zero); then it trains and refuses to regrow."""
    small = GANTrainer(TINY_TRAIN, RandomSource()).G
    with torch.no_grad():
        small.mapping.w_avg.normal_()
    channels = {**TINY_TRAIN.generator["channels"], 32: 8}
    big_cfg = _with(generator={**TINY_TRAIN.generator, "resolution": 32, "channels": channels},
                    discriminator={"channels": channels}, init="tiny")
    t = GANTrainer(big_cfg, RandomSource(resolution=32))
    assert t.grow_from(small) == ["b32"]
    assert torch.equal(t.G.mapping.w_avg, small.mapping.w_avg) and torch.equal(t.G_ema.mapping.w_avg, small.mapping.w_avg)
    z = small.sample_z(2, seed=3)
    with torch.no_grad():
        want = ops.upsample2d(small(z, noise_mode="const"), ops.make_filter())
        got = t.G(z, noise_mode="const")
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert np.isfinite(t.step()["loss_g"]) and t.G.synthesis.b32.torgb.weight.abs().sum() > 0
    with pytest.raises(ConfigError, match="first training step"):
        t.grow_from(small)


def test_grow_from_refuses_other_shapes():
    small = GANTrainer(TINY_TRAIN, RandomSource()).G
    wider = {4: 16, 8: 32, 16: 8, 32: 8}
    t = GANTrainer(_with(generator={**TINY_TRAIN.generator, "resolution": 32, "channels": wider},
                         discriminator={"channels": wider}), RandomSource(resolution=32))
    with pytest.raises(ConfigError, match="widths differ"):
        t.grow_from(small)
    other_w = GANTrainer(_with(generator={**TINY_TRAIN.generator, "w_dim": 8}), RandomSource())
    with pytest.raises(ConfigError, match="w_dim"):
        other_w.grow_from(small)


def test_state_round_trip_nested(tmp_path):
    state = {"a": torch.arange(3), "b": {1: [torch.ones(2), 2.5, "x", None], "c": (True, 3)}}
    save_state(tmp_path / "s", state)
    back = load_state(tmp_path / "s")
    assert torch.equal(back["a"], state["a"]) and torch.equal(back["b"][1][0], torch.ones(2))
    assert back["b"][1][1:] == [2.5, "x", None] and back["b"]["c"] == [True, 3]


@pytest.mark.slow
def test_two_process_data_parallel_ranks_stay_identical(tmp_path):
    run_torchrun("ddp_train_worker.py", tmp_path)
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0)
    init = GANTrainer(TINY_TRAIN, RandomSource())
    assert not torch.equal(r0["G.synthesis.b16.conv1.weight"], init.G.synthesis.b16.conv1.weight)


def _write_images(folder: Path, n: int, size=(20, 24)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_image_folder_source_skips_unreadable(tmp_path):
    _write_images(tmp_path / "data", 3)
    (tmp_path / "data" / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(tmp_path / "data" / "alpha.png")
    src = ImageFileSource(tmp_path / "data", 16)
    items = [src[i] for i in range(len(src))]
    assert len(items) == 5 and sum(x is None for x in items) == 1 and src.skipped == {"broken.png"}
    assert all(x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1 for x in items if x is not None)
    with pytest.raises(InputError):
        ImageFileSource(tmp_path / "empty-does-not-exist", 16)


def test_cli_train_gan_runs_resumes_and_stops_on_time(tmp_path):
    _write_images(tmp_path / "data", 6)
    (tmp_path / "data" / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    args = ["train", "gan", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--resolution", "16",
            "--channels", "4:16,8:16,16:8", "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2",
            "--batch", "4", "--snapshot-every", "2", "--checkpoint-every", "2", "--quiet"]
    assert main(args + ["--kimg", "0.008"]) == 0
    state = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]
    assert state["images_seen"] == 8
    assert main(args + ["--kimg", "0.016"]) == 0  # resumes from the checkpoint
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]["images_seen"] == 16
    assert main(args + ["--kimg", "10", "--max-minutes", "0"]) == 0  # stops after one step, checkpointed
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]["images_seen"] == 20
    g = Generator.from_pretrained(tmp_path / "run" / "generator")
    assert g.config.resolution == 16
    assert len(list((tmp_path / "run" / "samples").glob("grid-*.png"))) >= 2
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) >= 2
    assert main(args[:4] + ["--out", str(tmp_path / "bad"), "--channels", "4-16"]) == 1


def test_cli_grows_a_run_in_bf16_and_logs_honest_throughput(tmp_path, capsys):
    _write_images(tmp_path / "data", 4, size=(32, 32))
    common = ["train", "gan", "--data", str(tmp_path / "data"), "--z-dim", "16", "--w-dim", "16",
              "--mapping-layers", "2", "--batch", "4", "--snapshot-every", "1", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "small"), "--resolution", "16", "--channels", "4:16,8:16,16:8",
                          "--kimg", "0.004"]) == 0
    grow = common + ["--resolution", "32", "--channels", "4:16,8:16,16:8,32:8", "--precision", "bf16",
                     "--kimg", "0.008", "--grow-from", str(tmp_path / "small" / "generator")]
    assert main(grow + ["--out", str(tmp_path / "big")]) == 0
    assert "new blocks b32 start with a zero ToRGB" in capsys.readouterr().out
    config = json.loads((tmp_path / "big" / "checkpoint.json").read_text())["state"]["config"]
    assert config["precision"] == "bf16" and config["init"] == str(tmp_path / "small" / "generator")
    record = json.loads((tmp_path / "big" / "log.jsonl").read_text().splitlines()[-1])
    assert record["precision"] == "bf16" and record["processes"] == 1 and record["threads"] >= 1
    assert record["images_per_s_overall"] > 0 and record["train_seconds"] > 0 and record["snapshot_s"] >= 0
    assert main(grow + ["--out", str(tmp_path / "big2"), "--compact-to", str(tmp_path / "compact")]) == 0
    resume = ["train", "gan", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "big3"), "--resume-from",
              str(tmp_path / "compact"), "--kimg", "0.012", "--quiet"]
    assert main(resume) == 0  # a new run directory continues the compact checkpoint, with its own config
    assert json.loads((tmp_path / "big3" / "checkpoint.json").read_text())["state"]["images_seen"] == 12
    assert main(resume[:5] + [str(tmp_path / "big4")] + resume[6:] + ["--lr", "0.001", "--snapshot-every", "1"]) == 0
    assert "continuing at 0.001" in capsys.readouterr().out
    config = json.loads((tmp_path / "big4" / "checkpoint.json").read_text())["state"]["config"]
    assert (config["lr_g"], config["lr_d"]) == (0.001, 0.001) and config["batch"] == 4
    record = json.loads((tmp_path / "big4" / "log.jsonl").read_text().splitlines()[-1])
    assert (record["lr_g"], record["lr_d"]) == (0.001, 0.001)
    wrong = [a.replace("16:8,", "16:16,") for a in grow]
    assert main(wrong + ["--out", str(tmp_path / "wrong")]) == 1
    assert "block widths differ" in capsys.readouterr().err
    assert main(grow + ["--out", str(tmp_path / "missing"), "--grow-from", str(tmp_path / "nope")]) == 1


def test_bundle_create_from_run(tmp_path, capsys):
    from editgan.bundle import open_bundle

    run = tmp_path / "run"
    _write_images(tmp_path / "data", 4)
    train = ["train", "gan", "--data", str(tmp_path / "data"), "--out", str(run), "--resolution", "16",
             "--channels", "4:16,8:16,16:8", "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2",
             "--batch", "4", "--quiet"]
    main([*train, "--kimg", "0.004"])
    assert main(["bundle", "create", "--run", str(run), "--domain", "toonfaces", "--out", str(tmp_path / "b")]) == 0
    b = open_bundle(tmp_path / "b")
    prov = b.provenance("generator")
    assert prov["images_seen"] == 4 and prov["resolution"] == 16 and prov["train_seconds"] > 0
    assert b.labels is not None and b.labels.num_classes >= 14
    assert main(["bundle", "create", "--run", str(tmp_path), "--domain", "x", "--out", str(tmp_path / "c")]) == 1
    # training on and re-creating moves what belonged to the old generator out of the way
    (tmp_path / "b" / "vectors").mkdir()
    main([*train, "--kimg", "0.008"])
    capsys.readouterr()
    assert main(["bundle", "create", "--run", str(run), "--domain", "toonfaces", "--out", str(tmp_path / "b")]) == 0
    assert "vectors moved to" in capsys.readouterr().out
    b = open_bundle(tmp_path / "b")
    assert b.provenance("generator")["images_seen"] == 8 and (b.path / b.manifest["superseded"][0] / "vectors").is_dir()


def test_bundle_create_records_embedding_settings(tmp_path):
    from editgan.bundle import open_bundle

    run = tmp_path / "run"
    _write_images(tmp_path / "data", 4)
    main(["train", "gan", "--data", str(tmp_path / "data"), "--out", str(run), "--resolution", "16",
          "--channels", "4:16,8:16,16:8", "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2",
          "--batch", "4", "--kimg", "0.004", "--quiet"])
    assert main(["bundle", "create", "--run", str(run), "--domain", "x", "--out", str(tmp_path / "b"),
                 "--embed-lr", "0.05", "--perceptual", "msssim_l1"]) == 0
    b = open_bundle(tmp_path / "b")
    assert Editor(b).embed_settings().lr == 0.05 and b.manifest["perceptual"] == "msssim_l1"


def test_image_sources_centre_crop_to_the_target_aspect():
    from PIL import Image

    from editgan.train.data import fit_rgb
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)  # H 20, W 40
    img = Image.fromarray(arr)
    np.testing.assert_array_equal(fit_rgb(img, 20), arr[:, 10:30])  # square: the middle 20 columns
    np.testing.assert_array_equal(fit_rgb(img, (15, 40)), np.asarray(img.crop((0, 2, 40, 17))))  # 8:3 fits
    assert fit_rgb(img, (6, 8)).shape == (6, 8, 3)


def test_precision_auto_follows_the_hardware_and_a_resume_may_change_it(tmp_path, monkeypatch):
    from editgan.runtime import precision as precision_module
    from editgan.runtime.precision import choose_precision
    monkeypatch.setattr(precision_module, "fast_bf16", lambda device: False)
    assert choose_precision("auto", "cpu") == "fp32" and choose_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(precision_module, "fast_bf16", lambda device: True)
    assert choose_precision("auto", "cpu") == "bf16"
    with pytest.raises(ConfigError):
        choose_precision("fp16", "cpu")
    trainer = GANTrainer(_with(precision="bf16"), RandomSource())
    trainer.step()
    trainer.save(tmp_path / "ck")
    resumed = GANTrainer.from_checkpoint(tmp_path / "ck", RandomSource(), precision="fp32")
    assert resumed.config.precision == "fp32" and resumed.step_count == 1
    for name in ("G", "D"):
        assert params_equal(getattr(trainer, name), getattr(resumed, name)), name
