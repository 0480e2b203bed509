"""Editing vectors: file round trip, the library's names, corruption, atomicity; applying vectors."""

import json

import numpy as np
import pytest
import torch

from editgan.edit import vectors as vectors_mod
from editgan.edit.apply import apply_vectors
from editgan.bundle import open_bundle, packaged_bundles_dir
from editgan.edit.vectors import EditingVector, ReadOnlyVector, VectorLibrary, bundle_library, validate_name
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
    lib.rename("C", "b", overwrite=True)  # the replaced b is kept in .backup
    assert lib.list() == ["b"] and torch.equal(lib.get("b").delta, make(seed=0).delta)
    lib.delete("b")  # and so is the deleted one
    assert lib.list() == [] and [p.name for p in tmp_path.iterdir()] == [".backup"]
    kept = sorted((tmp_path / ".backup").iterdir())
    assert [torch.equal(EditingVector.load(k, "b").delta, make(seed=s).delta) for k, s in zip(kept, (1, 0))] == \
        [True, True]
    with pytest.raises(InputError):
        lib.delete("b")
    with pytest.raises(InputError):
        lib.rename("nothing", "other")


def test_shipped_vectors_are_read_only_and_user_vectors_shadow_them(tmp_path):
    shipped = tmp_path / "shipped"
    VectorLibrary(shipped, SHAPE).add(make("smile", seed=0))
    VectorLibrary(shipped, SHAPE).add(make("wink", seed=1))
    before = sorted((p.name, p.read_bytes()) for p in shipped.iterdir())
    lib = VectorLibrary(tmp_path / "mine", SHAPE, shipped=shipped)
    assert lib.list() == ["smile", "wink"] and lib.is_shipped("smile") and not lib.shadows_shipped("smile")
    with pytest.raises(ReadOnlyVector, match="'smile' is a shipped vector and cannot be deleted"):
        lib.delete("smile")
    with pytest.raises(ReadOnlyVector, match="cannot be renamed"):
        lib.rename("smile", "grin")
    with pytest.raises(InputError, match="already exists \\(a shipped vector"):
        lib.add(make("smile", seed=2))
    lib.add(make("smile", seed=2), overwrite=True)  # the user's smile shadows the shipped one
    assert lib.shadows_shipped("smile") and not lib.is_shipped("smile") and lib.list() == ["smile", "wink"]
    assert torch.equal(lib.get("smile").delta, make(seed=2).delta)
    lib.add(make("smile", seed=3), overwrite=True)  # an overwrite keeps the previous version
    (kept,) = (tmp_path / "mine" / ".backup").iterdir()
    assert torch.equal(EditingVector.load(kept, "smile").delta, make(seed=2).delta)
    lib.rename("smile", "grin")  # renames the user's copy; the shipped smile shows again
    assert lib.list() == ["grin", "smile", "wink"] and lib.is_shipped("smile")
    assert torch.equal(lib.get("smile").delta, make(seed=0).delta)
    lib.add(make("wink", seed=4), overwrite=True)
    lib.delete("wink")
    assert lib.is_shipped("wink") and torch.equal(lib.get("wink").delta, make(seed=1).delta)
    assert sorted((p.name, p.read_bytes()) for p in shipped.iterdir()) == before


def test_a_packaged_bundle_keeps_user_vectors_in_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITGAN_HOME", str(tmp_path))
    bundle = open_bundle("toonfaces")
    lib = bundle_library(bundle)
    assert lib.directory == tmp_path / "bundles" / "toonfaces" / "vectors"
    assert lib.shipped == packaged_bundles_dir() / "toonfaces" / "vectors" and lib.is_shipped("smile")
    assert bundle_library(bundle, lib.shipped).shipped is None  # a maintainer writing the shipped vectors
    own = bundle_library(open_bundle(packaged_bundles_dir() / "toonfaces"), tmp_path / "elsewhere")
    assert own.directory == tmp_path / "elsewhere" and own.shipped == lib.shipped


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
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".backup"]  # no temporary left
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
