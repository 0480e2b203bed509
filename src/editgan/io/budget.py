"""How much memory a checkpoint file may make us allocate, decided before anything is allocated.

Every reader of third-party files (NVIDIA `.pkl`, rosinality and other `torch.save` files) works
under a `ReadBudget`: at most `MULTIPLE` times the file's own size plus the expected size of the
network it declares (`NETWORK_ALLOWANCE`, a config-f 1024x1024 generator in fp32, when the file
cannot declare one before it is read). What counts is computed from what the file declares --
zip members' uncompressed sizes from the central directory, tensors' sizes x strides x element
size, storages counted once -- and checked before the bytes exist. Tensors must not overlap
themselves (zero or repeated strides), object graphs are walked with a node count and a depth
bound, so no shared-reference blow-up or self-reference can exhaust memory or the stack.
"""

from __future__ import annotations

import functools
import pickletools
from collections.abc import Iterable
from typing import BinaryIO

import torch

from editgan.errors import CheckpointError, EditGANError

MULTIPLE = 4  # bytes of a file: copies made while parsing and fp16 -> fp32 conversion
NETWORK_ALLOWANCE = 128 << 20  # a config-f 1024 generator: ~30M parameters, ~120 MB of fp32
MAX_NODES = 100_000  # containers and values walked when converting a file's objects
MAX_DEPTH = 64  # nesting of containers (a StyleGAN2 record nests less than 10 deep)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


class ReadBudget:
    """Bytes a reader may still allocate for one file; `charge` refuses (one line) past the limit."""

    def __init__(self, file_bytes: int, where: str, network_bytes: int = NETWORK_ALLOWANCE) -> None:
        self.limit = MULTIPLE * int(file_bytes) + int(network_bytes)
        self.used = 0
        self.where = where

    def charge(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.used + nbytes > self.limit:
            raise CheckpointError(f"{self.where}: {what} would need {_mb(self.used + nbytes)}, more than this "
                                  f"file may allocate ({_mb(self.limit)}: {MULTIPLE}x its size plus the "
                                  "declared network); the file is malformed or hostile")
        self.used += nbytes


def view_problem(size, stride, offset: int, itemsize: int, storage_nbytes: int) -> str | None:
    """Why a view (size, stride, offset) of a storage is unsafe to materialise, or None.

    Sizes, strides and the offset must be non-negative ints; dimensions longer than 1 need
    positive strides that never overlap (each stride passes the extent of the smaller ones), and
    the last element must lie inside the storage. Then the view holds at most the storage's bytes.
    """
    if len(size) != len(stride) or any(type(v) is not int or v < 0 for v in (*size, *stride, offset)):
        return "a malformed size/stride/offset"
    if 0 in size:
        return None
    dims = sorted((s, n) for n, s in zip(size, stride) if n > 1)
    extent = 0  # largest element offset reachable with the smaller strides
    for s, n in dims:
        if s <= extent:
            return f"strides {list(stride)} that make size {list(size)} overlap itself (zero or repeated strides)"
        extent += (n - 1) * s
    end = (offset + extent + 1) * itemsize
    if end > storage_nbytes:
        return f"size {list(size)} that reaches byte {end} of a {storage_nbytes}-byte storage"
    return None


def check_tensors(tensors: Iterable[tuple[str, torch.Tensor]], budget: ReadBudget, out_itemsize: int = 4) -> None:
    """Charge `budget` for materialising each (name, tensor) as a contiguous copy (fp32 by default).

    Each tensor must be a non-overlapping view inside its storage (see `view_problem`); refused in
    one line before any copy is made.
    """
    for name, t in tensors:
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{budget.where}: '{name}' is {type(t).__name__}, not a tensor")
        try:
            nbytes = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            raise CheckpointError(f"{budget.where}: '{name}' is not a plain CPU tensor") from None
        why = view_problem(tuple(t.shape), tuple(t.stride()), t.storage_offset(), t.element_size(), nbytes)
        if why:
            raise CheckpointError(f"{budget.where}: tensor '{name}' has {why}; the file is malformed or hostile")
        budget.charge(t.numel() * max(out_itemsize, t.element_size()), f"tensor '{name}'")


class NodeCounter:
    """Bounds a walk over a file's object graph: total nodes visited and nesting depth."""

    def __init__(self, where: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
        self.where, self.nodes, self.max_nodes, self.max_depth = where, 0, max_nodes, max_depth

    def visit(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise CheckpointError(f"{self.where}: more than {self.max_nodes} objects to convert (shared references "
                                  "repeated over and over?); the file is malformed or hostile")
        if depth > self.max_depth:
            raise CheckpointError(f"{self.where}: objects nested more than {self.max_depth} deep (or referring to "
                                  "themselves); the file is malformed or hostile")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (at most 160 characters)."""
    text = str(err).strip().splitlines()
    return text[0][:160] if text else "no details"


def check_pickle_lengths(stream: BinaryIO, where: str) -> None:
    """Walk one pickle's opcodes from the stream's position without running them; position restored.

    Every length it declares must fit in the bytes that follow (CPython's unpickler allocates a
    BINBYTES8/BINUNICODE8 length before reading: a 20-byte file declaring 10 GB would allocate
    10 GB). One CheckpointError line for a short or malformed stream.
    """
    start = stream.tell()
    try:
        for _op in pickletools.genops(stream):
            pass
    except ValueError as err:
        if "remain" in str(err) or "exhausted" in str(err):
            raise CheckpointError(f"{where} ends early: a length it declares runs past the end of the data "
                                  f"({first_line(err)}); truncated or malformed") from None
        raise CheckpointError(f"{where} is not a readable pickle ({first_line(err)}); malformed") from None
    except Exception as err:  # pickletools raises several types for garbage
        raise CheckpointError(f"{where} is not a readable pickle ({type(err).__name__}: {first_line(err)}); "
                              "malformed") from None
    stream.seek(start)


def one_line_errors(reader):
    """Any error other than an EditGANError out of `reader` (a malformed record) -> one CheckpointError line."""

    @functools.wraps(reader)
    def wrapped(path, *args, **kwargs):
        try:
            return reader(path, *args, **kwargs)
        except EditGANError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, ZeroDivisionError,
                RuntimeError, RecursionError, MemoryError) as err:
            raise CheckpointError(f"{path}: malformed checkpoint ({type(err).__name__}: {first_line(err)})") \
                from None

    return wrapped
