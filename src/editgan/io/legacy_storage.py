"""Tensor storages inside NVIDIA pickles: the bytes of torch's legacy `torch.save(storage)` format.

A pickled storage is `torch.storage._load_from_bytes(b)` where `b` holds, one after another:
pickles of the magic number 0x1950A86A20F9469CFC6C, protocol 1001 and a sys-info dict; a pickle
of one persistent id ("storage", torch.<Type>Storage, key, location, numel, view); the pickled
list [key]; then numel as 8 little-endian bytes and numel * itemsize raw bytes. We parse it
ourselves, so the declared numel is checked against the bytes present before anything is allocated.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import check_pickle_lengths

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                  "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                  "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                  "BoolStorage": torch.bool}


@dataclass(frozen=True)
class Storage:
    """Raw bytes of one storage and the dtype of its elements."""

    data: torch.UntypedStorage
    dtype: torch.dtype

    def __setstate__(self, state) -> None:
        raise CheckpointError("pickle sets the state (BUILD) of a tensor storage; refusing to load")

    @property
    def nbytes(self) -> int:
        return self.data.nbytes()


class _HeaderUnpickler(pickle.Unpickler):
    """Reads the small header pickles: only torch.<Type>Storage names, persistent ids kept as given."""

    def find_class(self, module: str, name: str):
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise CheckpointError(f"tensor storage in pickle names '{module}.{name}', not a torch storage type")

    def persistent_load(self, pid):
        return ("persistent", pid)


def load_header(f: io.BytesIO, where: str = "tensor storage in pickle"):
    """One small header pickle (numbers, a dict, a persistent id, a key list), its lengths checked first."""
    check_pickle_lengths(f, where)
    return _HeaderUnpickler(f).load()


def read_storage(blob: bytes) -> Storage:
    """Parse one legacy storage blob -> Storage; CheckpointError if malformed or shorter than declared."""
    if not isinstance(blob, (bytes, bytearray)):
        raise CheckpointError("tensor storage in pickle is not a byte string; malformed file")
    f = io.BytesIO(bytes(blob))
    try:
        magic, protocol, sys_info, ref, keys = (load_header(f) for _ in range(5))
    except CheckpointError:
        raise
    except Exception as err:  # the pickle module raises many types for corrupt input
        raise CheckpointError(f"tensor storage in pickle is malformed ({type(err).__name__})") from None
    if magic != MAGIC or protocol != PROTOCOL:
        raise CheckpointError("tensor storage in pickle does not start with torch's storage header")
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise CheckpointError("tensor storage in pickle is big-endian or lacks its byte-order record")
    try:
        (tag, pid) = ref
        kind, dtype, key, _location, numel, view = pid
    except (TypeError, ValueError):
        raise CheckpointError("tensor storage in pickle has a malformed storage record") from None
    if tag != "persistent" or kind != "storage" or not isinstance(dtype, torch.dtype) or view is not None \
            or keys != [key] or not isinstance(numel, int) or numel < 0:
        raise CheckpointError("tensor storage in pickle has a malformed storage record")
    itemsize = torch.empty((), dtype=dtype).element_size()
    head = f.read(8)
    raw = f.read()
    if len(head) != 8 or int.from_bytes(head, "little") != numel or len(raw) != numel * itemsize:
        raise CheckpointError(f"tensor storage in pickle declares {numel} elements of {itemsize} bytes but holds "
                              f"{len(raw)} bytes; the file is truncated or malformed")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    return Storage(data.untyped_storage(), dtype)
