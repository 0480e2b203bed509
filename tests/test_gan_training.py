"""GAN training: losses move, exact resume, data-parallel ranks agree, data sources, CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from editgan.cli import main
from editgan.errors import ConfigError, InputError
from editgan.io.native import load_generator
from editgan.train.data import ImageFileSource
from editgan.train.gan import GANTrainer
from editgan.train.state import load_state, save_state
from gan_fixtures import TINY_TRAIN, RandomSource, run_torchrun

TESTS = Path(__file__).parent


def params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


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
    straight = GANTrainer(TINY_TRAIN, RandomSource())
    for _ in range(4):
        straight.step()
    first = GANTrainer(TINY_TRAIN, RandomSource())
    for _ in range(2):
        first.step()
    first.save(tmp_path / "ckpt")
    resumed = GANTrainer.from_checkpoint(tmp_path / "ckpt", RandomSource())
    for _ in range(2):
        resumed.step()
    for name in ("G", "D", "G_ema"):
        assert params_equal(getattr(straight, name), getattr(resumed, name)), name
    assert resumed.step_count == 4 and torch.equal(straight.pl_mean, resumed.pl_mean)
    assert straight.opt_g.state_dict()["state"][0]["exp_avg"].equal(resumed.opt_g.state_dict()["state"][0]["exp_avg"])


def test_resume_refuses_other_config(tmp_path):
    t = GANTrainer(TINY_TRAIN, RandomSource())
    t.save(tmp_path / "ckpt")
    other = GANTrainer(type(TINY_TRAIN)(**{**TINY_TRAIN.to_json(), "batch": 8}), RandomSource())
    with pytest.raises(ConfigError):
        other.load(tmp_path / "ckpt")


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
            "--batch", "4", "--snapshot-every", "2", "--checkpoint-every", "2", "--no-progress"]
    assert main(args + ["--kimg", "0.008"]) == 0
    state = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]
    assert state["images_seen"] == 8
    assert main(args + ["--kimg", "0.016"]) == 0  # resumes from the checkpoint
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]["images_seen"] == 16
    assert main(args + ["--kimg", "10", "--max-minutes", "0"]) == 0  # stops after one step, checkpointed
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]["images_seen"] == 20
    g = load_generator(tmp_path / "run" / "generator")
    assert g.config.resolution == 16
    assert len(list((tmp_path / "run" / "samples").glob("grid-*.png"))) >= 2
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) >= 2
    assert main(args[:4] + ["--out", str(tmp_path / "bad"), "--channels", "4-16"]) == 1


def test_bundle_create_from_run(tmp_path, capsys):
    from editgan.bundle import open_bundle

    run = tmp_path / "run"
    _write_images(tmp_path / "data", 4)
    train = ["train", "gan", "--data", str(tmp_path / "data"), "--out", str(run), "--resolution", "16",
             "--channels", "4:16,8:16,16:8", "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2",
             "--batch", "4", "--no-progress"]
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
          "--batch", "4", "--kimg", "0.004", "--no-progress"])
    assert main(["bundle", "create", "--run", str(run), "--domain", "x", "--out", str(tmp_path / "b"),
                 "--embedding-lr", "0.05", "--perceptual", "msssim_l1"]) == 0
    b = open_bundle(tmp_path / "b")
    assert b.embedding_lr() == 0.05 and b.manifest["perceptual"] == "msssim_l1"
