"""Odd and hostile checkpoint files: each is refused with one CheckpointError line, never a traceback."""

import collections
import fractions
import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import checkpoint_layouts as L
from editgan.cli import main
from editgan.errors import CheckpointError
from editgan.io.datasetgan import read_member
from editgan.io.legacy_storage import MAGIC, PROTOCOL, read_storage
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

def storage_blob(declared: int, payload: bytes) -> bytes:
    """torch's legacy storage bytes (what `_load_from_bytes` receives) for a float storage, by hand."""
    marker = object()

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", declared, None) if obj is marker else None

    f = io.BytesIO()
    for obj in (MAGIC, PROTOCOL, {"protocol_version": PROTOCOL, "little_endian": True}):
        pickle.dump(obj, f, protocol=2)
    Writer(f, protocol=2).dump(marker)
    pickle.dump(["0"], f, protocol=2)
    f.write(declared.to_bytes(8, "little") + payload)
    return f.getvalue()


class Reduces:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def tensor_pickle(blob: bytes, offset: int, size: tuple, stride: tuple) -> bytes:
    storage = Reduces(torch.storage._load_from_bytes, blob)
    return pickle.dumps(Reduces(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False,
                                collections.OrderedDict()), protocol=3)


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
