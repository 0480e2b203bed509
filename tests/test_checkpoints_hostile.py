"""Odd and hostile checkpoint files: each is refused with one CheckpointError line, never a traceback."""

import codecs
import fractions
import json
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import checkpoint_layouts as L
import hostile_corpus as H
import pytest
import torch
from hostile_corpus import Reduces, storage_blob, tensor_pickle

from editgan.cli import main
from editgan.errors import CheckpointError, EditGANError, UnsafePickleError
from editgan.io.budget import (
    NETWORK_ALLOWANCE,
    NodeCounter,
    ReadBudget,
    check_tensors,
    view_problem,
)
from editgan.io.datasetgan import read_member
from editgan.io.foreign import read_foreign_generator
from editgan.io.legacy_storage import read_storage
from editgan.io.nvidia_pkl import declared_generator_bytes
from editgan.io.rosinality import read_rosinality
from editgan.io.safe_pickle import safe_load
from editgan.io.torch_files import LEGACY_MAGIC, load_torch_file

CHANNELS = {4: 16, 8: 16, 16: 8}
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _rosinality_file(path, drop=()):
    sd = {k: v for k, v in L.rosinality_g_ema(16, 8, 2, CHANNELS).items() if k not in drop}
    return L.write_rosinality(path, sd, torch.zeros(8))


def _flip_member_byte(path, suffix="/data/0", at=5):
    """Flip one byte inside the stored (uncompressed) bytes of the zip member ending with `suffix`."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    raw = bytearray(path.read_bytes())
    header = info.header_offset
    name_len, extra_len = int.from_bytes(raw[header + 26:header + 28], "little"), \
        int.from_bytes(raw[header + 28:header + 30], "little")
    raw[header + 30 + name_len + extra_len + at] ^= 0xFF
    path.write_bytes(bytes(raw))
    return info.filename


def _convert_error(capsys, *argv):
    """Run `editgan convert` in-process -> its stderr, checked to be exactly one line after a failure."""
    assert main(["convert", *map(str, argv)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("editgan convert: error:") and "Traceback" not in err, err
    return err


# ---- zip members are CRC-checked before torch reads them ------------------------------------------

def test_corrupted_tensor_member_is_refused_by_name(tmp_path, capsys):
    path = _rosinality_file(tmp_path / "g.pt")
    member = _flip_member_byte(path)
    with pytest.raises(CheckpointError, match=f"'{member}' fails its CRC check"):
        read_rosinality(path)
    err = _convert_error(capsys, path, tmp_path / "out")
    assert member in err and not (tmp_path / "out" / "generator.json").exists()


def test_corrupted_classifier_member_is_refused(tmp_path):
    path = tmp_path / "model_0.pth"
    torch.save({"model_state_dict": {"module.layers.0.weight": torch.randn(4, 6)}}, path)
    member = _flip_member_byte(path)
    with pytest.raises(CheckpointError, match=f"'{member}' fails its CRC check"):
        read_member(path)


def test_intact_zip_still_loads(tmp_path):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.arange(6.0)}, path)
    assert load_torch_file(path)["w"].tolist() == list(range(6))


# ---- one line instead of a traceback --------------------------------------------------------------

def test_rosinality_missing_keys_are_named(tmp_path, capsys):
    err = _convert_error(capsys, _rosinality_file(tmp_path / "a.pt", drop={"to_rgb1.conv.weight"}), tmp_path / "o")
    assert "missing 1 key(s): ['to_rgb1.conv.weight']" in err
    path = _rosinality_file(tmp_path / "b.pt", drop={"convs.1.activate.bias", "to_rgbs.0.bias"})
    with pytest.raises(CheckpointError, match=r"missing 2 key\(s\): \['convs.1.activate.bias', 'to_rgbs.0.bias'\]"):
        read_rosinality(path)


def test_not_a_torch_file_with_format_rosinality(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("hello, not a checkpoint")
    err = _convert_error(capsys, tmp_path / "notes.pt", tmp_path / "o", "--format", "rosinality")
    assert "is not a torch checkpoint" in err
    (tmp_path / "legacy.pt").write_bytes(LEGACY_MAGIC + b"garbage that is not a pickle")
    assert "legacy.pt is truncated or corrupt" in _convert_error(capsys, tmp_path / "legacy.pt", tmp_path / "o")


def test_weights_only_refusal_is_condensed(tmp_path, capsys):
    path = tmp_path / "objects.pt"
    torch.save({"g_ema": L.rosinality_g_ema(16, 8, 2, CHANNELS), "lr": fractions.Fraction(1, 3)}, path)
    err = _convert_error(capsys, path, tmp_path / "o")
    assert "objects other than plain tensors and containers (it needs fractions.Fraction)" in err
    assert "never runs code from checkpoints" in err and "PyTorch" not in err and "trusted source" not in err


def test_convert_subprocess_prints_one_line(tmp_path):
    (tmp_path / "notes.pt").write_text("e" * 64)  # torch.load alone fails with KeyError: 101
    proc = subprocess.run([sys.executable, "-m", "editgan.cli", "convert", str(tmp_path / "notes.pt"),
                           str(tmp_path / "o"), "--format", "rosinality"],
                          capture_output=True, text=True, env={"PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


# ---- sizes in NVIDIA pickles are checked against the bytes before allocating --------------------

@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_storage_reader_agrees_with_torch_and_the_hand_built_blob():
    values = torch.tensor([1.5, -2.0, 3.25, 4.0], dtype=torch.float64)
    func, (torch_blob,) = values.storage().__reduce__()  # what torch itself pickles
    assert func is torch.storage._load_from_bytes
    storage = read_storage(torch_blob)
    assert storage.dtype == torch.float64 and bytes(storage.data) == values.numpy().tobytes()
    blob = storage_blob(4, torch.tensor([1.5, -2.0, 3.25, 4.0]).numpy().tobytes())
    assert safe_load(tensor_pickle(blob, 1, (3,), (1,))).tolist() == [-2.0, 3.25, 4.0]


def test_tensor_larger_than_its_storage_is_refused():
    blob = storage_blob(4, bytes(16))
    data = tensor_pickle(blob, 0, (5000, 5000), (5000, 1))  # 100 MB view of a 16-byte storage
    assert len(data) < 600
    with pytest.raises(CheckpointError, match="reaches byte 100000000 of a 16-byte storage"):
        safe_load(data)
    for offset, size, stride in [(-1, (2,), (1,)), (0, (2,), (-1,)), (0, (2, 2), (1,)), (3, (2,), (1,))]:
        with pytest.raises(CheckpointError):
            safe_load(tensor_pickle(blob, offset, size, stride))


def test_storage_declared_huge_but_short_is_refused():
    with pytest.raises(CheckpointError, match="declares 1000000000000 elements of 4 bytes but holds 16 bytes"):
        safe_load(tensor_pickle(storage_blob(10 ** 12, bytes(16)), 0, (4,), (1,)))
    with pytest.raises(CheckpointError, match="not a torch storage type"):
        read_storage(storage_blob(4, bytes(16)).replace(b"FloatStorage", b"FloatStorags"))
    with pytest.raises(CheckpointError, match="malformed"):
        read_storage(b"\x80\x02garbage")


# ---- issue 29: a budget for every reader, decided before anything is allocated --------------------

@pytest.mark.parametrize("name", list(H.CASES))
def test_hostile_corpus_is_refused_in_one_line_by_api_and_cli(tmp_path, capsys, name):
    builder, expected = H.CASES[name]
    path = builder(tmp_path / ("f.pt" if name.startswith("pt") else "f.pkl"))
    assert path.stat().st_size < 100_000
    with pytest.raises(EditGANError) as info:
        read_foreign_generator(path)
    assert isinstance(info.value, CheckpointError) and "\n" not in str(info.value)
    assert re.search(expected, str(info.value)), str(info.value)
    err = _convert_error(capsys, path, tmp_path / "out")
    assert re.search(expected, err) and not (tmp_path / "out" / "generator.json").exists()


_UNDER_1GB = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import contextlib, io
from editgan.cli import main
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for name, path in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err):
        rc = main(["convert", path, path + ".out"])
    out[name] = [rc, err.getvalue(), time.perf_counter() - t0]
out["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


def test_hostile_corpus_is_refused_under_a_1gb_address_space(tmp_path):
    """Every case claims 2-10 GB: refused before allocating (MemoryError tracebacks without the budget)."""
    paths = {name: str(p) for name, p in H.build(tmp_path, H.CASES).items()}
    proc = subprocess.run([sys.executable, "-c", _UNDER_1GB, json.dumps(paths)], capture_output=True, text=True,
                          env={"PYTHONPATH": SRC + ":" + str(Path(__file__).parent), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result.pop("peak_mb") < 100
    for name, (rc, err, seconds) in result.items():
        assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert re.search(H.CASES[name][1], err) and seconds < 2, (name, err, seconds)


@pytest.mark.parametrize("name", list(H.ACCEPTED))
def test_unreferenced_members_and_protocol_2_still_convert(tmp_path, capsys, name):
    path = H.ACCEPTED[name](tmp_path / ("f.pt" if name.startswith("pt") else "f.pkl"))
    assert main(["convert", str(path), str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "generator.json").exists()


def test_real_deflate_bomb_is_refused_from_its_declared_size(tmp_path):
    path = H.real_bomb_pt(tmp_path / "bomb.pt", referenced=True, mib=8)  # 8 MiB of zeros, ~60 KB deflated
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match="more than this file may allocate"):
        load_torch_file(path, budget=ReadBudget(path.stat().st_size, str(path), network_bytes=0))
    unreferenced = H.real_bomb_pt(tmp_path / "extra.pt", referenced=False, mib=8)
    assert read_rosinality(unreferenced)[0].resolution == 16  # torch reads the hand-written zip; 999 never read


def test_view_rules():
    assert view_problem((4, 3), (3, 1), 0, 4, 48) is None  # contiguous
    assert view_problem((3, 4), (1, 3), 0, 4, 48) is None  # transposed
    assert view_problem((1, 5), (0, 1), 0, 4, 20) is None  # size-1 dims may have any stride
    assert view_problem((0, 7), (0, 0), 0, 4, 0) is None  # empty
    assert "overlap" in view_problem((5,), (0,), 0, 4, 20)
    assert "overlap" in view_problem((4, 4), (2, 1), 0, 4, 64)  # rows overlap
    assert "reaches byte 24" in view_problem((3,), (2,), 1, 4, 20)
    assert "malformed" in view_problem((3,), (-1,), 0, 4, 20)


def test_budget_counts_views_of_a_shared_storage():
    storage = torch.zeros(1000)
    views = [(f"t{i}", storage[:]) for i in range(300)]  # 300 x 4 KB of copies from one 4 KB storage
    with pytest.raises(CheckpointError, match="more than this file may allocate"):
        check_tensors(views, ReadBudget(4000, "f.pkl", network_bytes=0))
    check_tensors(views[:4], ReadBudget(4000, "f.pkl", network_bytes=0))
    with pytest.raises(CheckpointError, match="overlap itself"):
        check_tensors([("w", torch.zeros(1).expand(10 ** 9))], ReadBudget(10 ** 12, "f", 0))


def test_node_counter_and_declared_network_size():
    counter = NodeCounter("f", max_nodes=3)
    for _ in range(3):
        counter.visit(0)
    with pytest.raises(CheckpointError, match="more than 3 objects"):
        counter.visit(0)
    config_f = dict(z_dim=512, w_dim=512, img_resolution=1024, mapping_kwargs={"num_layers": 8},
                    synthesis_kwargs={"channel_base": 32768, "channel_max": 512})
    assert 100e6 < declared_generator_bytes(config_f) <= NETWORK_ALLOWANCE  # ~120 MB of fp32
    assert declared_generator_bytes({"z_dim": "x"}) == 0
    assert declared_generator_bytes({**config_f, "img_resolution": 1 << 20}) == 0


def test_protocol_2_bytes_only_via_latin1_encode():
    assert safe_load(pickle.dumps(b"\x00\xffabc", protocol=2)) == b"\x00\xffabc"
    assert safe_load(pickle.dumps(b"", protocol=2)) == b""
    with pytest.raises(UnsafePickleError, match="other than for latin-1"):
        safe_load(pickle.dumps(Reduces(codecs.encode, "abc", "rot13"), protocol=2))
    with pytest.raises(UnsafePickleError, match="bytes\\(\\) with arguments"):
        safe_load(pickle.dumps(Reduces(bytes, 10 ** 10), protocol=2))


def test_build_on_storage_or_record_is_refused():
    blob = storage_blob(4, bytes(16))
    with pytest.raises(CheckpointError, match="BUILD"):
        safe_load(pickle.dumps(Reduces(torch.storage._load_from_bytes, blob, state={"data": 1}), protocol=3))


def test_legacy_torch_save_files_are_scanned_too(tmp_path):
    """pre-1.6 torch.save files: same parity, same view rules, declared storages must fit the file."""
    path = tmp_path / "legacy.pt"
    sd = H._rosinality_sd()
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(8)}, path, _use_new_zipfile_serialization=False)
    assert read_rosinality(path)[0].resolution == 16
    sd["noises.noise_0"] = torch.zeros(1).expand(H.GiB // 2)
    torch.save({"g_ema": sd}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="overlap itself"):
        read_rosinality(path)
    torch.save({"w": torch.zeros(1000)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(CheckpointError, match="declares 4000 bytes of tensors but only 2008 follow"):
        load_torch_file(path)


def test_zip_with_duplicate_member_names_is_refused(tmp_path):
    path = H.rosinality_file(tmp_path / "dup.pt")
    with zipfile.ZipFile(path) as archive:
        member = next(i.filename for i in archive.infolist() if "/data/" in i.filename)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr(member, b"\0" * 64)
    with pytest.raises(CheckpointError, match="two zip members with the same name"):
        read_rosinality(path)


def test_zip_directory_is_charged_before_it_is_parsed(tmp_path):
    path = H.rosinality_file(tmp_path / "many.pt")
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(3000):
            archive.writestr(f"many/x{i}", b"")
    size = path.stat().st_size
    with pytest.raises(CheckpointError, match="the zip's directory would need"):
        load_torch_file(path, budget=ReadBudget(size, str(path), network_bytes=0))
    assert read_rosinality(path)[0].resolution == 16  # the default budget allows it
