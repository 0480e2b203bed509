"""Our checkpoint format: round trip, atomic writes, malformed files, CLI errors."""

import json

import pytest
import torch

from editgan.cli import main
from editgan.errors import CheckpointError
from editgan.files import write_bytes
from editgan.nn.stylegan2 import Generator
from conftest import make_tiny_generator


def test_round_trip_reproduces_images(tmp_path, tiny_generator):
    tiny_generator.save_pretrained(tmp_path)
    g2 = Generator.from_pretrained(tmp_path)
    ws = tiny_generator.z_to_wplus(tiny_generator.sample_z(2, seed=0))
    assert torch.equal(g2.synthesis(ws), tiny_generator.synthesis(ws))
    assert g2.config == tiny_generator.config
    assert not any(p.requires_grad for p in g2.parameters())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.json", "generator.safetensors"]


def test_malformed_files_raise_checkpoint_error(tmp_path, tiny_generator):
    tiny_generator.save_pretrained(tmp_path)
    (tmp_path / "generator.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="safetensors"):
        Generator.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        Generator.from_pretrained(tmp_path / "missing")
    (tmp_path / "generator.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        Generator.from_pretrained(tmp_path)


def test_weights_that_do_not_fit_config(tmp_path, tiny_generator):
    tiny_generator.save_pretrained(tmp_path)
    other = make_tiny_generator(channels={4: 16, 8: 16, 16: 16, 32: 8})
    meta = json.loads((tmp_path / "generator.json").read_text())
    meta["config"] = other.config.to_json()
    (tmp_path / "generator.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="wrong shape"):
        Generator.from_pretrained(tmp_path)


def test_cli_sample_and_one_line_error(tmp_path, tiny_generator, capsys):
    tiny_generator.save_pretrained(tmp_path / "g")
    assert main(["sample", str(tmp_path / "g"), "--seeds", "0-2", "--out", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["grid.png", "seed0000.png", "seed0001.png",
                                                                  "seed0002.png"]
    assert main(["sample", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("editgan sample: error:")
    assert main(["sample", str(tmp_path / "g"), "--seeds", "a-b"]) == 1


def test_demo_stand_in_runs(tmp_path, capsys):
    from editgan.toonfaces.commands.demo import run_stand_in

    run_stand_in(tmp_path, seed=0)
    out = capsys.readouterr().out
    assert "RANDOMLY INITIALISED" in out and (tmp_path / "samples" / "grid.png").is_file()


def test_atomic_writes_get_the_umask_permissions_not_private_ones(tmp_path):
    import os
    import stat

    
    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]  # no temporary left behind
