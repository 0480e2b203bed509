"""`editgan vector rename` and `editgan vector set-scale` on a library written by the test."""

import numpy as np
import torch

from conftest import shipped_wplus_shape
from editgan.bundle import packaged_bundles_dir
from editgan.cli import main
from editgan.edit.vectors import EditingVector, VectorLibrary

SHAPE = shipped_wplus_shape()
RAMP = torch.arange(float(SHAPE[0] * SHAPE[1])).reshape(SHAPE) / (SHAPE[0] * SHAPE[1])


def _library(tmp_path) -> VectorLibrary:
    lib = VectorLibrary(tmp_path / "v")
    thumb = np.full((4, 4, 3), 7, np.uint8)
    lib.add(EditingVector(RAMP, "smile", ("mouth",), default_scale=1.0,
                          thumbnails={"before": thumb}, losses=[{"total": 2.0}, {"total": 1.0}]))
    lib.add(EditingVector(torch.ones(SHAPE), "frown", ("mouth",)))
    return lib


def _vector_args(tmp_path, *rest) -> list[str]:
    return ["vector", rest[0], "--vectors", str(tmp_path / "v"), *rest[1:]]


def test_rename_keeps_everything_but_the_name(tmp_path, capsys):
    lib = _library(tmp_path)
    assert main(_vector_args(tmp_path, "rename", "smile", "grin")) == 0
    assert lib.list() == ["frown", "grin"]
    v = lib.get("grin")
    assert v.name == "grin" and v.parts == ("mouth",) and v.losses == [{"total": 2.0}, {"total": 1.0}]
    assert torch.equal(v.delta, RAMP)
    assert (v.thumbnails["before"] == 7).all()
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == \
        ["frown.json", "frown.safetensors", "grin.json", "grin.safetensors"]


def test_rename_refuses_an_existing_name_unless_overwriting(tmp_path, capsys):
    lib = _library(tmp_path)
    assert main(_vector_args(tmp_path, "rename", "smile", "frown")) == 1
    assert "already exists" in capsys.readouterr().err
    assert torch.equal(lib.get("frown").delta, torch.ones(SHAPE))
    assert main(_vector_args(tmp_path, "rename", "smile", "frown", "--overwrite")) == 0
    assert lib.list() == ["frown"] and torch.equal(lib.get("frown").delta, RAMP)
    assert main(_vector_args(tmp_path, "rename", "frown", "../x")) == 1
    assert "invalid vector name" in capsys.readouterr().err


def test_set_scale(tmp_path, capsys):
    lib = _library(tmp_path)
    assert main(_vector_args(tmp_path, "set-scale", "smile", "-0.75")) == 0
    v = lib.get("smile")
    assert v.default_scale == -0.75 and v.losses == [{"total": 2.0}, {"total": 1.0}] and "before" in v.thumbnails
    assert main(_vector_args(tmp_path, "list")) == 0
    assert "smile\tparts=mouth\tdefault_scale=-0.75" in capsys.readouterr().out
    assert main(_vector_args(tmp_path, "set-scale", "smile", "nan")) == 1
    assert "finite" in capsys.readouterr().err
    assert main(_vector_args(tmp_path, "set-scale", "ghost", "1")) == 1
    assert "no editing vector named 'ghost'" in capsys.readouterr().err
    assert lib.get("smile").default_scale == -0.75


def test_the_packaged_bundles_vectors_are_read_only_and_yours_go_to_the_user_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDITGAN_HOME", str(tmp_path))
    shipped = packaged_bundles_dir() / "toonfaces" / "vectors"
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    assert main(["vector", "delete", "smile"]) == 1
    err = capsys.readouterr().err
    assert "'smile' is a shipped vector and cannot be deleted" in err and len(err.splitlines()) == 1
    assert main(["vector", "rename", "smile", "grin"]) == 1
    assert main(["vector", "set-scale", "smile", "0.5"]) == 0  # your copy, shadowing the shipped one
    assert VectorLibrary(tmp_path / "bundles" / "toonfaces" / "vectors").get("smile").default_scale == 0.5
    capsys.readouterr()
    assert main(["vector", "list"]) == 0
    out = capsys.readouterr().out
    assert "smile\tparts=" in out and "default_scale=0.5\tyours, shadows the shipped one" in out
    assert "open_mouth\tparts=" in out and "\tshipped (read-only)" in out
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
