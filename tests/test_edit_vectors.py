"""Editing vectors: file round trip, the library's names, corruption, atomicity; applying vectors."""

import json

import numpy as np
import pytest
import torch

from editgan.edit import vectors as vectors_mod
from editgan.edit.apply import apply_vectors
from editgan.edit.vectors import EditingVector, VectorLibrary, validate_name
from editgan.errors import CheckpointError, InputError
from editgan.files import atomic_path

SHAPE = (6, 8)


def make(name="wheel", seed=0, **kw):
    delta = torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))
    return EditingVector(delta=delta, name=name, parts=("tire", "spoke"), **kw)


def test_round_trip_keeps_everything(tmp_path):
    thumb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    v = make(default_scale=-0.5, thumbnails={"before": thumb}, losses=[{"total": 2.0, "ce": 1.0}],
             created={"time": "t", "steps": 100})
    lib = VectorLibrary(tmp_path, SHAPE)
    lib.add(v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheel.json", "wheel.safetensors"]
    got = lib.get("wheel")
    assert torch.equal(got.delta, v.delta) and got.parts == ("tire", "spoke") and got.default_scale == -0.5
    np.testing.assert_array_equal(got.thumbnails["before"], thumb)
    assert got.losses == v.losses and got.created == {"time": "t", "steps": 100}
    assert lib.list() == ["wheel"] and lib.problems == []


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 65, ".hidden", "a..b", "a b", "con", "NUL.txt",
                                  "trail.", "-dash", "a\\b"])
def test_bad_names_are_rejected(tmp_path, name):
    with pytest.raises(InputError):
        validate_name(name)
    with pytest.raises(InputError):
        make(name)
    with pytest.raises(InputError):
        VectorLibrary(tmp_path).get(name)


def test_good_names_pass():
    for name in ("wheel", "Wheel_enlarge-2", "v1.2", "x" * 64, "0"):
        assert validate_name(name) == name


def test_add_refuses_overwrite_and_wrong_shape(tmp_path):
    lib = VectorLibrary(tmp_path, SHAPE)
    lib.add(make(seed=0))
    with pytest.raises(InputError):
        lib.add(make(seed=1))
    with pytest.raises(InputError):
        lib.add(make("WHEEL", seed=1), overwrite=True)  # differs only in case
    lib.add(make(seed=1), overwrite=True)
    assert torch.equal(lib.get("wheel").delta, make(seed=1).delta)
    with pytest.raises(InputError):
        lib.add(EditingVector(delta=torch.zeros(5, 8), name="small"))
    with pytest.raises(InputError):
        lib.get("missing")


def test_rename_and_delete(tmp_path):
    lib = VectorLibrary(tmp_path, SHAPE)
    lib.add(make("a", seed=0))
    lib.add(make("b", seed=1))
    with pytest.raises(InputError):
        lib.rename("a", "b")
    renamed = lib.rename("a", "c")
    assert renamed.name == "c" and lib.list() == ["b", "c"]
    assert torch.equal(lib.get("c").delta, make(seed=0).delta)
    assert json.loads((tmp_path / "c.json").read_text())["name"] == "c"
    lib.rename("c", "C")  # case-only rename
    assert lib.list() == ["C", "b"]
    lib.rename("C", "b", overwrite=True)
    assert lib.list() == ["b"] and torch.equal(lib.get("b").delta, make(seed=0).delta)
    lib.delete("b")
    assert lib.list() == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(InputError):
        lib.delete("b")
    with pytest.raises(InputError):
        lib.rename("nothing", "other")


def test_corrupt_files_are_reported_and_skipped(tmp_path):
    lib = VectorLibrary(tmp_path, SHAPE)
    for name in ("good", "badjson", "badtensors", "orphan", "shape"):
        lib.add(make(name))
    (tmp_path / "badjson.json").write_text("{not json")
    (tmp_path / "badtensors.safetensors").write_bytes(b"garbage")
    (tmp_path / "orphan.json").unlink()
    VectorLibrary(tmp_path).add(EditingVector(delta=torch.zeros(3, 8), name="shape"), overwrite=True)
    (tmp_path / "notes.json").write_text("[1, 2]")
    (tmp_path / "bad name.json").write_text("{}")
    assert lib.list() == ["good"]
    assert sorted(p.split(":")[0] for p in lib.problems) == ["bad name", "badjson", "badtensors", "notes",
                                                            "orphan", "shape"]
    with pytest.raises(CheckpointError):
        lib.get("badtensors")
    with pytest.raises(CheckpointError):
        lib.get("shape")


def test_digest_detects_a_mismatched_pair(tmp_path):
    lib = VectorLibrary(tmp_path, SHAPE)
    lib.add(make(seed=0))
    old_json = (tmp_path / "wheel.json").read_text()
    lib.add(make(seed=1), overwrite=True)
    (tmp_path / "wheel.json").write_text(old_json)  # as if the JSON write had been lost
    assert lib.list() == [] and "does not match" in lib.problems[0]


@pytest.mark.parametrize("target", ["save_tensors", "write_json"])
def test_failed_write_leaves_the_old_vector_intact(tmp_path, monkeypatch, target):
    lib = VectorLibrary(tmp_path, SHAPE)
    lib.add(make(seed=0))
    real = getattr(vectors_mod, target)

    def failing(path, *args, **kwargs):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"partial")
            raise OSError("disk full")

    monkeypatch.setattr(vectors_mod, target, failing)
    with pytest.raises(OSError):
        lib.add(make(seed=1), overwrite=True)
    monkeypatch.setattr(vectors_mod, target, real)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    if target == "save_tensors":  # tensors and JSON both old: the old vector loads
        assert torch.equal(lib.get("wheel").delta, make(seed=0).delta)
    else:  # new tensors, old JSON: reported, never mixed up
        assert lib.list() == [] and "does not match" in lib.problems[0]


def test_vector_validation():
    with pytest.raises(InputError):
        EditingVector(delta=torch.zeros(6), name="v")
    with pytest.raises(InputError):
        EditingVector(delta=torch.full(SHAPE, float("nan")), name="v")
    with pytest.raises(InputError):
        EditingVector(delta=torch.zeros(SHAPE), name="v", default_scale=float("inf"))
    with pytest.raises(InputError):
        EditingVector(delta=torch.zeros(SHAPE), name="v", thumbnails={"t": np.zeros((4, 4, 3), np.float32)})


def test_apply_vectors_sums_scaled_deltas():
    a, b = make("a", seed=0), make("b", seed=1)
    w = torch.randn(3, *SHAPE, dtype=torch.float64)
    out = apply_vectors(w, {a: 2.0, b: -0.5})
    ref = w.numpy() + 2.0 * a.delta.numpy() - 0.5 * b.delta.numpy()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    assert out.dtype == torch.float64 and torch.equal(apply_vectors(w, {}), w)
    single = apply_vectors(w[0], [(a, 1), (a.delta, 1)])  # pairs; a tensor works too
    np.testing.assert_allclose(single.numpy(), w[0].numpy() + 2 * a.delta.numpy(), rtol=1e-6)
    s = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    apply_vectors(w, {a: s}).sum().backward()
    assert s.grad.item() == pytest.approx(3 * a.delta.double().sum().item(), rel=1e-6)


@pytest.mark.parametrize("bad", [
    lambda a: (torch.zeros(3, 5, 8), {a: 1.0}),  # num_ws differs
    lambda a: (torch.zeros(8), {a: 1.0}),  # not w+
    lambda a: (torch.zeros(2, *SHAPE), {a: float("nan")}),
    lambda a: (torch.zeros(2, *SHAPE), {a: torch.ones(2)}),
    lambda a: (torch.zeros(2, *SHAPE), {a: "1"}),
])
def test_apply_vectors_validates(bad):
    with pytest.raises(InputError):
        apply_vectors(*bad(make()))
