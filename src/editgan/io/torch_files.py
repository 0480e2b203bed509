"""Reading `torch.save` files safely: header check, a declaration scan, then `torch.load(weights_only=True)`.

Before torch reads anything, the file's declarations are checked against a `budget.ReadBudget`
(4x the file's size plus a config-f 1024 generator): for zip files (torch.save since 1.6), the
uncompressed sizes that the central directory declares for the members torch will read (its
records, and the `data/<key>` members `data.pkl` references; unreferenced members are never
read), then those members' CRCs; for both zip and legacy files, `data.pkl`'s declared lengths,
storages and tensor views (no zero or overlapping strides, inside their storage, no BUILD on a
tensor: torch's weights-only unpickler would call `set_()` with the file's sizes). The scan runs
an unpickler whose globals are inert stand-ins, so nothing from the file runs.

Every failure is one CheckpointError line; torch's multi-line advice (to turn weights_only off)
never reaches the user. `torch.load` here runs no code from the file.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import (
    NETWORK_ALLOWANCE,
    ReadBudget,
    check_pickle_lengths,
    view_problem,
)
from editgan.io.legacy_storage import STORAGE_DTYPES, load_header

ZIP_MAGIC = b"PK\x03\x04"  # torch.save since 1.6
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # torch.save before 1.6 (pickled magic)

_NEVER_RUN = "editgan never runs code from checkpoints"
ZIP_ENTRY_BYTES = 1024  # charged per declared zip member: what parsing its directory entry costs, at most
# Lines of torch's weights-only error that are advice, not the reason.
_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1)", "(2)")


def is_torch_save_header(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a torch.save file (zip or legacy)."""
    return head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_MAGIC)


class _StorageRef:
    """A storage that data.pkl declares: its key, bytes and element size (nothing allocated)."""

    def __init__(self, key: str, nbytes: int, itemsize: int) -> None:
        self.key, self.nbytes, self.itemsize = key, nbytes, itemsize


class _Declared:
    """Stand-in for any global the scan meets: records nothing, runs nothing (subclassed per name)."""

    _global = ""
    _scan: _ScanUnpickler

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        cls._scan.called(cls._global, args)
        return obj

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setitem__(self, key, value) -> None:  # SETITEM(S) on an OrderedDict stand-in
        pass

    def append(self, value) -> None:  # APPEND(S) on a list-like stand-in
        pass

    def extend(self, values) -> None:
        pass

    def __setstate__(self, state) -> None:
        if self._global.startswith("torch._utils._rebuild"):
            raise CheckpointError("the file sets the state (BUILD) of a tensor, which would grow its storage "
                                  "(set_); no checkpoint does that: malformed or hostile")


_TENSOR_REBUILDS = ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3")
_PARAMETER_REBUILDS = ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state")


class _ScanUnpickler(pickle.Unpickler):
    """Reads data.pkl with inert stand-ins: collects the declared storages and checks each tensor view."""

    def __init__(self, stream: io.BytesIO, where: str, sizes: dict[str, int] | None) -> None:
        super().__init__(stream)
        self.where, self.sizes, self.storages, self.classes = where, sizes, {}, {}

    def find_class(self, module: str, name: str):
        key = f"{module}.{name}"
        if key not in self.classes:
            self.classes[key] = type(name, (_Declared,), {"_global": key, "_scan": self})
        return self.classes[key]

    def persistent_load(self, pid):
        try:
            kind, storage_type, key, _location, numel, *view = pid
        except (TypeError, ValueError):
            raise CheckpointError(f"{self.where} has a malformed storage record") from None
        itemsize = _itemsize(getattr(storage_type, "_global", ""))
        if kind != "storage" or not isinstance(key, str) or type(numel) is not int or numel < 0 \
                or itemsize is None or any(v is not None for v in view):
            raise CheckpointError(f"{self.where} has a malformed or unsupported storage record")
        nbytes = numel * itemsize
        if self.sizes is not None and self.sizes.get(key, -1) < nbytes:
            raise CheckpointError(f"{self.where}: storage '{key}' declares {nbytes} bytes but the file's member "
                                  f"for it holds {self.sizes.get(key, 0)}; truncated, malformed or hostile")
        if self.storages.setdefault(key, nbytes) != nbytes:
            raise CheckpointError(f"{self.where}: storage '{key}' is declared with two sizes; malformed")
        return _StorageRef(key, nbytes, itemsize)

    def called(self, name: str, args: tuple) -> None:
        if name in _TENSOR_REBUILDS:
            storage, offset, size, stride = (args + (None,) * 4)[:4]
            itemsize = _dtype_itemsize(args[6]) if name.endswith("v3") and len(args) > 6 else \
                getattr(storage, "itemsize", None)
            if not isinstance(storage, _StorageRef) or itemsize is None or not isinstance(size, tuple) \
                    or not isinstance(stride, tuple):
                raise CheckpointError(f"{self.where} declares a malformed tensor")
            why = view_problem(size, stride, offset, itemsize, storage.nbytes)
            if why:
                raise CheckpointError(f"{self.where}: a tensor has {why}; malformed or hostile")
        elif name.startswith("torch._utils._rebuild") and name not in _PARAMETER_REBUILDS:
            raise CheckpointError(f"{self.where} holds a kind of tensor this reader does not support ({name})")


def _itemsize(name: str) -> int | None:
    """Element size of a `torch.<Type>Storage` global named in a storage record."""
    if name == "torch.UntypedStorage":
        return 1
    return _dtype_itemsize_of(STORAGE_DTYPES.get(name[6:]) if name.startswith("torch.") else None)


def _dtype_itemsize(declared) -> int | None:
    name = getattr(declared, "_global", "")
    return _dtype_itemsize_of(getattr(torch, name[6:], None) if name.startswith("torch.") else None)


def _dtype_itemsize_of(dtype) -> int | None:
    return dtype.itemsize if isinstance(dtype, torch.dtype) else None


def _scan_pickle(stream: io.BytesIO, where: str, sizes: dict[str, int] | None) -> dict[str, int]:
    """Check one pickle's declared lengths, then scan it -> {storage key: declared bytes}."""
    check_pickle_lengths(stream, where)
    scanner = _ScanUnpickler(stream, where, sizes)
    try:
        scanner.load()
    except CheckpointError:
        raise
    except Exception as err:  # the pickle module raises many types for corrupt input
        raise CheckpointError(f"{where} is truncated or corrupt ({type(err).__name__} while reading its "
                              "tensor declarations); re-download it") from None
    return scanner.storages


def check_zip_declarations(path: Path, budget: ReadBudget) -> None:
    """Refuse a zip before torch inflates it: declared sizes of the members torch reads against `budget`,
    data.pkl's storages and views, then those members' CRCs (unreferenced `data/` members are never read)."""
    try:
        budget.charge(_zip_entries(path) * ZIP_ENTRY_BYTES, "the zip's directory")
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            prefix = infos[0].filename.split("/")[0] + "/" if infos else ""
            members = {i.filename: i for i in infos}
            if len(members) != len(infos):  # which copy a reader picks is up to the reader: refuse
                raise CheckpointError(f"{path} has two zip members with the same name; malformed or hostile")
            pkl = members.get(prefix + "data.pkl")
            if pkl is None:
                raise CheckpointError(f"{path} is a zip without {prefix}data.pkl; not a torch checkpoint")
            budget.charge(pkl.file_size, f"'{pkl.filename}'")
            sizes = {name[len(prefix) + 5:]: i.file_size for name, i in members.items()
                     if name.startswith(prefix + "data/")}
            storages = _scan_pickle(io.BytesIO(archive.read(pkl)), str(path), sizes)
            read = [i for name, i in members.items() if i is not pkl and (
                not name.startswith(prefix + "data/") or name[len(prefix) + 5:] in storages)]
            budget.charge(sum(i.file_size for i in read), "the zip members torch reads")
            for info in read:
                _check_crc(archive, info, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CheckpointError(f"{path} is truncated or corrupt (not a readable zip archive: {err}); "
                              "re-download it") from None


def _zip_entries(path: Path) -> int:
    """How many members the zip's end record declares, read before the central directory is parsed."""
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)  # noqa: SLF001 - the stdlib's own end-record reader (zip64 included)
    if not end:
        raise zipfile.BadZipFile("File is not a zip file")
    return int(end[zipfile._ECD_ENTRIES_TOTAL])  # noqa: SLF001


def _check_crc(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    try:
        with archive.open(info) as member:
            while member.read(1 << 20):
                pass
    except zipfile.BadZipFile:
        raise CheckpointError(f"{path} is corrupt: zip member '{info.filename}' fails its CRC check; "
                              "re-download it") from None


def check_legacy_declarations(path: Path, budget: ReadBudget) -> None:
    """Refuse a pre-1.6 torch.save file whose storages (declared in its main pickle) exceed the bytes that
    follow or `budget`, or whose tensor views are unsafe, before torch allocates them."""
    with open(path, "rb") as f:
        stream = io.BytesIO(f.read())
    where = f"{path} is truncated or corrupt: its header"
    for _ in range(3):  # magic number, protocol, sys info: the same small pickles as a legacy storage's
        load_header(stream, where)
    storages = _scan_pickle(stream, str(path), None)
    try:
        keys = load_header(stream, where)
    except CheckpointError:
        keys = None
    declared = sum(storages.values())
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
        raise CheckpointError(f"{path} has a malformed storage list; truncated or corrupt")
    remaining = len(stream.getbuffer()) - stream.tell()
    if declared + 8 * len(storages) > remaining:
        raise CheckpointError(f"{path} declares {declared} bytes of tensors but only {remaining} follow; "
                              "truncated, malformed or hostile")
    budget.charge(declared, "its tensor storages")


def load_torch_file(path: str | Path, *, allow: tuple = (), hint: str = "",
                    budget: ReadBudget | None = None) -> object:
    """Load a torch.save file of tensors and plain containers; one-line CheckpointError otherwise.

    allow: extra (class, "module.Name") pairs for torch.serialization.safe_globals (inert
    stand-ins only). hint: a sentence appended to the messages that suggest another reader.
    budget: what the file may make us allocate (default: 4x its size plus a config-f generator);
    charged here for what torch will allocate, left for the caller to charge its own copies.
    """
    path = Path(path)
    hint = f" {hint}" if hint else ""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(len(LEGACY_MAGIC))
    except OSError as err:
        raise CheckpointError(f"cannot read {path} ({err.strerror or type(err).__name__})") from None
    if not is_torch_save_header(head):
        raise CheckpointError(f"{path} is not a torch checkpoint (first bytes {head[:4]!r}).{hint}")
    budget = budget or ReadBudget(path.stat().st_size, str(path), NETWORK_ALLOWANCE)
    if head.startswith(ZIP_MAGIC):
        check_zip_declarations(path, budget)
    else:
        check_legacy_declarations(path, budget)
    try:
        with torch.serialization.safe_globals(list(allow)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols of old files
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(_unpickling_message(path, str(err), hint)) from None
    except Exception as err:  # torch raises many types for corrupt input
        reason = f"{type(err).__name__}: {_first_sentence(str(err))}"
        raise CheckpointError(f"{path} is truncated or corrupt ({reason}); re-download it") from None


def _unpickling_message(path: Path, text: str, hint: str) -> str:
    """torch's weights-only refusal (several lines of advice) -> our one line."""
    needed = re.search(r"GLOBAL (\S+)", text)
    reason = _first_sentence("\n".join(line for line in text.splitlines() if not line.strip().startswith(_ADVICE)))
    if needed:
        what = f" (it needs {needed.group(1)})"
    elif "truncated" in reason or "EOF" in reason:
        return f"{path} is truncated or corrupt ({reason}); re-download it"
    else:
        what = f", or is corrupt ({reason})"
    return (f"{path} holds objects other than plain tensors and containers{what}; "
            f"refusing to unpickle it: {_NEVER_RUN}.{hint}")


def _first_sentence(text: str) -> str:
    """The first non-empty line of `text`, cut at its first sentence end, at most 160 characters."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "no details")
    return line.split(". ")[0][:160]
