"""Tiny hostile and malformed checkpoint files, built by hand (no file here exceeds a few KB on disk).

Each `CASES` entry: name -> (builder(dir) -> path, regex the one-line refusal must match). The
builders write what issue 29 measured: zero-stride views claiming gigabytes, BUILD on a tensor,
"billion laughs" and self-referencing init kwargs, deep nesting, malformed records, declared
lengths past the end of the file, zip members whose declared (central directory) sizes are huge.
`ACCEPTED` holds files that must still convert (an unreferenced huge member is never read).
Used by tests/test_checkpoints_hostile.py and bench/hostile_files.py.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import checkpoint_layouts as L
import torch

from editgan.io.legacy_storage import MAGIC, PROTOCOL

GiB = 1 << 30


# ---- pickle building blocks -----------------------------------------------------------------------

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
    """Pickles as `func(*args)`, then BUILD with `state` when one is given."""

    def __init__(self, func, *args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def tensor_pickle(blob: bytes, offset: int, size: tuple, stride: tuple, state=None) -> bytes:
    storage = Reduces(torch.storage._load_from_bytes, blob)
    return pickle.dumps(Reduces(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False,
                                collections.OrderedDict(), state=state), protocol=3)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _small_generator():
    return L.nvidia_generator(resolution=8, z_dim=8, w_dim=8, num_layers=2, channel_base=64, channel_max=16)


def _snapshot(path: Path, edit) -> Path:
    """A real-layout NVIDIA snapshot of a tiny generator, changed by `edit(G)` before pickling."""
    G = _small_generator()
    edit(G)
    with _deep_pickling():
        return L.write_nvidia_pkl(path, G, with_discriminator=False)


@contextlib.contextmanager
def _deep_pickling():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 30_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _kwarg(name, value):
    return lambda G: G._init_kwargs.__setitem__(name, value)


def _laughs(levels: int = 9, width: int = 10):
    node: object = "lol"
    for _ in range(levels):
        node = [node] * width  # the same list referenced `width` times: 10^9 leaves in a few hundred bytes
    return node


def _self_referencing():
    d: dict = {"a": 1}
    d["self"] = d
    return d


def _nested(depth: int = 5000):
    node: list = []
    for _ in range(depth):
        node = [node]
    return node


def _shared_records(G, levels: int = 12, width: int = 10):
    """Sub-module records shared `width` times per level: 10^12 paths through a few records."""
    node = L._Persistent()
    node._record_init()
    for _ in range(levels):
        parent = L._Persistent()
        parent._record_init()
        for i in range(width):
            parent._modules[f"m{i}"] = node
        node = parent
    G.mapping._modules["extra"] = node


def _drop_blocks(G):
    G.synthesis._modules.clear()


def _zero_stride_w_avg(G):
    G.mapping.w_avg = torch.zeros(1).expand(GiB // 2)  # 2 GB of fp32 from a 4-byte storage


def _modules_list(G):
    G.synthesis.__dict__["_modules"] = [1, 2, 3]


# ---- zip (torch.save) building blocks -------------------------------------------------------------

def _rosinality_sd():
    return L.rosinality_g_ema(16, 8, 2, {4: 16, 8: 16, 16: 8})


def rosinality_file(path: Path, sd=None) -> Path:
    return L.write_rosinality(path, sd if sd is not None else _rosinality_sd(), torch.zeros(8))


def _zero_stride_pt(path: Path) -> Path:
    sd = _rosinality_sd()
    sd["noises.noise_0"] = torch.zeros(1).expand(GiB // 2)  # 2 GB view of one float
    return rosinality_file(path, sd)


def rewrite_zip(path: Path, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> None:
    """Rewrite a zip with some members' bytes replaced (stored) and members added (deflated)."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(path) as src:
        members = [(i.filename, src.read(i)) for i in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in members:
            dst.writestr(name, replace.get(name.split("/", 1)[1], data))
        prefix = members[0][0].split("/")[0]
        for name, data in add.items():
            dst.writestr(f"{prefix}/{name}", data, compress_type=zipfile.ZIP_DEFLATED)


def declare_size(path: Path, member_suffix: str, size: int) -> None:
    """Patch the uncompressed size that the zip declares for a member (local header and central directory),
    leaving its bytes as they are: what a deflate bomb of `size` bytes declares, in a tiny file."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix))
    raw[info.header_offset + 22:info.header_offset + 26] = size.to_bytes(4, "little")
    name = info.filename.encode()
    at = raw.find(b"PK\x01\x02" + raw[info.header_offset + 4:info.header_offset + 6])
    while raw[at + 46:at + 46 + len(name)] != name:
        at = raw.find(b"PK\x01\x02", at + 4)
    raw[at + 24:at + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(raw))


def _build_on_tensor_pt(path: Path) -> Path:
    """data.pkl rebuilds a 4-float tensor, then BUILDs it with a 2 GB size (torch would call set_())."""
    marker = object()

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if obj is marker else None

    f = io.BytesIO()
    grown = (marker, 0, (GiB // 2,), (1,))
    Writer(f, protocol=2).dump({"g_ema": Reduces(torch._utils._rebuild_tensor_v2, marker, 0, (4,), (1,), False,
                                                 collections.OrderedDict(), state=grown)})
    torch.save({"g_ema": torch.zeros(4)}, path)
    rewrite_zip(path, replace={"data.pkl": f.getvalue()})
    return path


def _bomb_pt(path: Path, referenced: bool, size: int) -> Path:
    rosinality_file(path)
    if referenced:  # the member of a tensor torch reads: declared to inflate to `size`
        with zipfile.ZipFile(path) as archive:
            member = next(i.filename for i in archive.infolist() if "/data/" in i.filename)
        declare_size(path, member, size)
    else:  # a member nothing references
        rewrite_zip(path, add={"data/999": bytes(64)})
        declare_size(path, "/data/999", size)
    return path


def real_bomb_pt(path: Path, referenced: bool, mib: int) -> Path:
    """Like the declared-size bombs, but the member really inflates to `mib` MiB of zeros (`mib` < 4096).

    Written by hand: one deflated MiB of zeros ends in a full flush, so the same bytes repeated
    `mib` times (then a final empty block) are one valid deflate stream; the CRC is computed.
    """
    rosinality_file(path)
    with zipfile.ZipFile(path) as archive:
        target = next(i.filename for i in archive.infolist() if "/data/" in i.filename) if referenced else None
        members = [(i.filename, archive.read(i)) for i in archive.infolist() if i.filename != target]
    compressor, zeros = zlib.compressobj(1, zlib.DEFLATED, -15), bytes(1 << 20)
    chunk = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    entries = [(name, 0, zlib.crc32(data), [data], len(data), len(data)) for name, data in members]
    bomb = target or members[0][0].split("/")[0] + "/data/999"
    entries.append((bomb, 8, crc, [chunk] * mib + [compressor.flush()], len(chunk) * mib + 2, mib << 20))
    with open(path, "wb") as f:
        central = b""
        for name, method, crc, parts, csize, usize in entries:
            fields = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, csize, usize, len(name), 0)
            central += b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, f.tell()) \
                + name.encode()
            f.write(b"PK\x03\x04" + fields + name.encode())
            f.writelines(parts)
        start = f.tell()
        f.write(central + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), len(central),
                                                      start, 0))
    return path


def _garbage_pickle_global(path: Path) -> Path:
    return _write(path, pickle.dumps(Reduces(os.system, "true"), protocol=4))


# name -> (builder(path) -> path, regex of the one-line refusal)
CASES = {
    "pkl zero-stride 4 GB view (707-byte kind)":
        (lambda p: _write(p, tensor_pickle(storage_blob(4, bytes(16)), 0, (GiB,), (0,))), "overlap itself"),
    "pkl zero-stride 10 GB view":
        (lambda p: _write(p, tensor_pickle(storage_blob(4, bytes(16)), 0, (5 * GiB // 2, 1), (0, 1))),
         "overlap itself"),
    "pkl snapshot, w_avg a zero-stride 2 GB view": (lambda p: _snapshot(p, _zero_stride_w_avg), "overlap itself"),
    "pkl BUILD grows a tensor to 2 GB":
        (lambda p: _write(p, tensor_pickle(storage_blob(0, b""), 0, (0,), (1,),
                                           state=(Reduces(torch.storage._load_from_bytes, storage_blob(0, b"")),
                                                  0, (GiB // 2,), (1,)))), r"\(BUILD\)"),
    "pkl BUILD grows a tensor to 10 GB":
        (lambda p: _write(p, tensor_pickle(storage_blob(0, b""), 0, (0,), (1,),
                                           state=(Reduces(torch.storage._load_from_bytes, storage_blob(0, b"")),
                                                  0, (5 * GiB // 2,), (1,)))), r"\(BUILD\)"),
    "pkl billion laughs in init kwargs": (lambda p: _snapshot(p, _kwarg("laughs", _laughs())), "more than 100000"),
    "pkl self-referencing init kwargs": (lambda p: _snapshot(p, _kwarg("loop", _self_referencing())), "nested more"),
    "pkl 5000-deep init kwargs": (lambda p: _snapshot(p, _kwarg("deep", _nested())), "nested more"),
    "pkl records shared 10^12 times": (lambda p: _snapshot(p, _shared_records), "more than 100000"),
    "pkl record without synthesis blocks": (lambda p: _snapshot(p, _drop_blocks), "no synthesis blocks"),
    "pkl c_dim='ten'": (lambda p: _snapshot(p, _kwarg("c_dim", "ten")), "c_dim 'ten' is not an integer"),
    "pkl _modules is a list": (lambda p: _snapshot(p, _modules_list), "not a dict"),
    "pkl declares 10 GB of bytes in 15":
        (lambda p: _write(p, b"\x80\x04\x8e" + (10 * GiB).to_bytes(8, "little") + b"abc."), "ends early"),
    "pkl calls os.system": (_garbage_pickle_global, "refusing to load global"),
    "pkl truncated": (lambda p: _write(p, pickle.dumps({"G_ema": list(range(100))}, protocol=4)[:-9]),
                      "truncated|ends early"),
    "pkl not a dict": (lambda p: _write(p, pickle.dumps([1, 2, 3], protocol=4)), "not an NVIDIA network pickle"),
    "pt zero-stride 2 GB tensor": (_zero_stride_pt, "overlap itself"),
    "pt BUILD grows a tensor to 2 GB": (_build_on_tensor_pt, r"\(BUILD\)"),
    "pt referenced member inflates to 2 GiB": (lambda p: _bomb_pt(p, True, 2 * GiB), "more than this file may"),
    "pt unreferenced non-tensor 4 GiB member":
        (lambda p: _bomb_pt_extra(p), "more than this file may"),
    "pt corrupt zip": (lambda p: _write(p, b"PK\x03\x04" + bytes(40)), "truncated or corrupt"),
}


def _bomb_pt_extra(path: Path) -> Path:
    rosinality_file(path)
    rewrite_zip(path, add={"extra": bytes(64)})
    declare_size(path, "/extra", 4 * GiB - 2)
    return path


ACCEPTED = {
    "pt unreferenced 4 GiB data member (never read)": lambda p: _bomb_pt(p, False, 4 * GiB - 2),
    "pkl protocol 2 snapshot": lambda p: L.write_nvidia_pkl(p, _small_generator(), protocol=2),
}


def build(directory: Path, cases: dict) -> dict[str, Path]:
    """Build every case of `cases` under `directory` -> name -> path."""
    out = {}
    for i, (name, entry) in enumerate(cases.items()):
        builder = entry[0] if isinstance(entry, tuple) else entry
        suffix = ".pt" if name.startswith("pt") else ".pkl"
        out[name] = builder(Path(directory) / f"case{i:02d}{suffix}")
    return out
