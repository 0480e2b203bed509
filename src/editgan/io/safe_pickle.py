"""A restricted unpickler for third-party pickles (NVIDIA StyleGAN2 `.pkl` files).

A pickle can call any importable function while it loads. This unpickler resolves only an
explicit allow-list of globals, each mapped to OUR inert re-implementation:

* `torch_utils.persistence._reconstruct_persistent_obj` -> `PersistentRecord(meta)`: NVIDIA's
  persistent classes pickle as `(class_name, module_src, state)`. The module source is kept as
  text and never executed; `state` is the module's `__dict__` (`_parameters`, `_buffers`,
  `_modules`, `_init_kwargs`, plain attributes).
* tensors: `torch._utils._rebuild_tensor_v2` (its size/stride/offset checked against the storage
  before use), `_rebuild_parameter(_with_state)`, and storages via `torch.storage._load_from_bytes`,
  which `legacy_storage.read_storage` re-implements (declared sizes checked against the bytes).
* containers: `collections.OrderedDict`, `builtins.set/frozenset`, `dnnlib[.util].EasyDict` (a
  plain dict subclass here).
* numpy numeric scalars, dtypes and arrays (rebuilt from raw bytes; object dtypes refused).
* `_codecs.encode(text, "latin1")` and `bytes()`: how protocols 0-2 write byte strings (only that);
  `copyreg._reconstructor(EasyDict, dict, items)`: how protocols 0-1 write an EasyDict (only that).

Anything else raises `UnsafePickleError` naming the global, before it is ever called. Before
unpickling, every length the file declares is checked against the bytes that follow it
(`pickletools` walks the opcodes; the C unpickler would allocate a declared length up front), and
BUILD (`__setstate__`) on a tensor, storage or network record is refused: on a tensor it would call
`set_()` and grow a storage. Tensor views must not overlap themselves (`budget.view_problem`).
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from editgan.errors import CheckpointError, UnsafePickleError
from editgan.io.budget import NodeCounter, check_pickle_lengths, view_problem
from editgan.io.budget import first_line as _line
from editgan.io.legacy_storage import Storage, read_storage


def _refuse_build(state) -> None:
    raise UnsafePickleError("pickle sets the state (BUILD) of a tensor, storage or network record; "
                            "no StyleGAN pickle does that; refusing to load")


@dataclass
class PersistentRecord:
    """What NVIDIA's `persistence` module pickled for one object, without the object.

    class_name: e.g. "Generator"; module_src: the defining module's source (text, never run);
    state: the object's `__dict__` as pickled (for a torch Module: `_parameters`, `_buffers`,
    `_modules`, `_init_args`, `_init_kwargs`, plain attributes).
    """

    class_name: str
    module_src: str
    version: int | None
    state: dict = field(repr=False)

    @property
    def init_kwargs(self) -> dict:
        kwargs = self.state.get("_init_kwargs") or {}
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def children(self) -> dict[str, Any]:
        """Sub-modules (`_modules`), name -> PersistentRecord (or None)."""
        return dict(_group(self.state, "_modules", self.class_name))

    def __setstate__(self, state) -> None:
        _refuse_build(state)

    def tensors(self, prefix: str = "", counter: NodeCounter | None = None, depth: int = 0) -> dict[str, torch.Tensor]:
        """Flat state dict (`_parameters` and `_buffers` of this record and its children).

        The walk is bounded (`counter`: node count and nesting depth), so a record that contains
        itself, or is shared a million times, is refused in one line.
        """
        counter = counter or NodeCounter(f"network record {self.class_name}")
        counter.visit(depth)
        out: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in _group(self.state, group, self.class_name).items():
                counter.visit(depth + 1)
                if value is None:
                    continue
                if not isinstance(value, torch.Tensor):
                    raise CheckpointError(f"{prefix}{name} in {self.class_name} is {type(value).__name__}, "
                                          "not a tensor; the pickle is malformed")
                out[f"{prefix}{name}"] = value
        for name, child in self.children.items():
            if child is None:
                continue
            if not isinstance(child, PersistentRecord):
                raise CheckpointError(f"sub-module {prefix}{name} of {self.class_name} is not a persistent "
                                      f"network record ({type(child).__name__}); unsupported pickle")
            out.update(child.tensors(f"{prefix}{name}.", counter, depth + 1))
        return out


def _group(state: dict, group: str, class_name: str) -> dict:
    value = state.get(group) or {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{group} of {class_name} is a {type(value).__name__}, not a dict; the pickle is "
                              "malformed")
    return value


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("malformed persistent-object record in pickle (expected a dict with type='class')")
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise CheckpointError("persistent-object record has a non-dict state; unsupported pickle")
    return PersistentRecord(class_name=str(meta.get("class_name")), module_src=str(meta.get("module_src", "")),
                            version=meta.get("version"), state=dict(state))


def _latin1_bytes(text="", encoding="latin1", *rest):
    """`_codecs.encode` as protocols 0-2 use it for bytes: encode(text, "latin1"); nothing else."""
    if rest or not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("pickle calls _codecs.encode other than for latin-1 bytes; refusing to load")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise CheckpointError("pickle holds malformed latin-1 bytes") from None


class _DictBase:
    """Stand-in for `builtins.dict` where protocols 0-1 name it: only as `_reconstructor`'s base."""


def _reconstructor(cls, base, state):
    """`copyreg._reconstructor` as protocols 0-1 rebuild a dict subclass: (EasyDict, dict, items) only."""
    if cls is not EasyDict or base is not _DictBase or not isinstance(state, dict):
        raise UnsafePickleError("pickle calls copyreg._reconstructor other than for an EasyDict; refusing to load")
    return EasyDict(state)


def _empty_bytes(*args):
    """`bytes()` as protocols 0-2 write an empty byte string; any argument is refused."""
    if args:
        raise UnsafePickleError("pickle calls bytes() with arguments; refusing to load")
    return b""


class EasyDict(dict):
    """Stand-in for `dnnlib.EasyDict`: a dict (with a `__dict__`, so BUILD opcodes work)."""


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, Storage):
        raise CheckpointError("tensor in pickle does not reference a tensor storage; malformed file")
    if backward_hooks:
        raise UnsafePickleError("tensor in pickle carries backward hooks; refusing to load")
    _check_view(storage, storage_offset, size, stride)
    try:
        tensor = torch.empty((0,), dtype=storage.dtype).set_(storage.data, storage_offset, tuple(size), tuple(stride))
    except (RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"tensor in pickle has an invalid size/stride ({type(err).__name__})") from None
    tensor.__setstate__ = _refuse_build  # BUILD looks the method up on the instance: Tensor's would call set_()
    return tensor


def _check_view(storage: Storage, offset, size, stride) -> None:
    """The view must lie inside the storage and not overlap itself (checked before anything is allocated)."""
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) or type(offset) is not int:
        raise CheckpointError("tensor in pickle has a malformed size/stride/offset; malformed file")
    itemsize = torch.empty((), dtype=storage.dtype).element_size()
    why = view_problem(tuple(size), tuple(stride), offset, itemsize, storage.nbytes)
    if why:
        raise CheckpointError(f"tensor in pickle has {why}; the file is malformed")


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("parameter in pickle wraps a non-tensor; malformed file")
    if backward_hooks:
        raise UnsafePickleError("parameter in pickle carries backward hooks; refusing to load")
    return data


_NUMERIC_DTYPE = re.compile(r"^[<>|=]?(b1|\?|[iuf][1248]|f16|c8|c16)$")


def _dtype(spec, align=False, copy=True):
    if not isinstance(spec, str) or not _NUMERIC_DTYPE.match(spec):
        raise UnsafePickleError(f"numpy dtype {spec!r} in pickle is not a plain numeric type; refusing to load")
    return np.dtype(spec)


def _check_numeric(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or dtype.fields is not None:
        raise UnsafePickleError("numpy value in pickle has a non-numeric dtype; refusing to load")
    return dtype


def _scalar(dtype, data=None):
    dtype = _check_numeric(dtype)
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise CheckpointError("malformed numpy scalar in pickle")
    return np.frombuffer(bytes(data), dtype=dtype)[0].item()


class _NdarrayType:
    """Stand-in for the `numpy.ndarray` class argument of `_reconstruct`."""


class NdarrayRecord:
    """A numpy array rebuilt from raw bytes (numeric dtypes only); the array is `.array`."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state) -> None:
        try:
            _version, shape, dtype, fortran, raw = state
        except (TypeError, ValueError):
            raise CheckpointError("malformed numpy array in pickle") from None
        dtype = _check_numeric(dtype)
        if not isinstance(raw, (bytes, bytearray)):
            raise UnsafePickleError("numpy array in pickle holds objects, not raw numbers; refusing to load")
        arr = np.frombuffer(bytes(raw), dtype=dtype)
        try:
            self.array = arr.reshape(tuple(shape), order="F" if fortran else "C").copy()
        except (TypeError, ValueError):
            raise CheckpointError("numpy array in pickle has inconsistent shape and data") from None


def _ndarray_reconstruct(cls, shape, typecode):
    if cls is not _NdarrayType:
        raise UnsafePickleError("numpy _reconstruct in pickle names a class other than ndarray; refusing to load")
    return NdarrayRecord()


def _safe_set(items=()):
    return set(items)


def _safe_frozenset(items=()):
    return frozenset(items)


def _torch_dtype(name: str):
    value = getattr(torch, name, None)
    return value if isinstance(value, torch.dtype) else None


ALLOWED_GLOBALS: dict[tuple[str, str], Callable | type] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): read_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): _safe_set,
    ("builtins", "frozenset"): _safe_frozenset,
    ("dnnlib", "EasyDict"): EasyDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "dict"): _DictBase,
}


class SafeUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only `ALLOWED_GLOBALS` (and torch dtype constants)."""

    def find_class(self, module: str, name: str):
        # Python-2-era names (protocol <= 2 pickles write e.g. __builtin__.set), as the stdlib maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        target = ALLOWED_GLOBALS.get((module, name))
        if target is None and module == "torch":
            target = _torch_dtype(name)
        if target is not None:
            return target
        hint = ""
        if module.startswith("dnnlib.tflib"):
            hint = (" This is a TensorFlow-era StyleGAN pickle; convert it to the PyTorch format with "
                    "NVIDIA's stylegan2-ada-pytorch legacy.py in an environment you trust, then convert that.")
        raise UnsafePickleError(f"refusing to load global '{module}.{name}' from a pickle: only tensors, "
                                f"plain containers and StyleGAN network records are allowed.{hint}")

    def persistent_load(self, pid):
        raise CheckpointError("this pickle uses persistent ids (a torch.save file?); it is not an NVIDIA .pkl — "
                              "try --format rosinality")


def safe_load(source: str | Path | BinaryIO | bytes) -> Any:
    """Unpickle `source` (path, bytes or binary file) with `SafeUnpickler`; no code from it runs.

    Raises UnsafePickleError for any disallowed global, CheckpointError for missing, truncated or
    malformed files.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"checkpoint file not found: {path}")
        with open(path, "rb") as f:
            return _load_stream(f, str(path))
    if isinstance(source, (bytes, bytearray)):
        return _load_stream(io.BytesIO(bytes(source)), "<bytes>")
    return _load_stream(source, getattr(source, "name", "<stream>"))


def _load_stream(f: BinaryIO, where: str) -> Any:
    stream = io.BytesIO(f.read())
    if stream.getvalue().startswith(b"PK\x03\x04"):
        raise CheckpointError(f"{where} is a zip archive (a torch.save file?), not an NVIDIA .pkl — "
                              "try --format rosinality")
    check_pickle_lengths(stream, where)
    try:
        return SafeUnpickler(stream).load()
    except CheckpointError as err:
        if str(err).startswith(where):
            raise
        raise type(err)(f"{where}: {err}") from None
    except EOFError:
        raise CheckpointError(f"{where} ends early: the pickle is truncated (re-download or re-copy it)") from None
    except pickle.UnpicklingError as err:
        if "truncated" in str(err):
            raise CheckpointError(f"{where} ends early: the pickle is truncated (re-download or re-copy it)") from None
        raise CheckpointError(f"{where} is not a readable pickle ({err})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            MemoryError, RecursionError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{where} is not a readable pickle ({type(err).__name__}: {_line(err)})") from None


