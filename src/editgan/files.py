"""Our files on disk, written atomically: a temporary file next to the target, renamed over it in
one step, so a reader never sees half a file and an interrupted write loses nothing. Tensors go to
safetensors (never pickle), everything else to JSON. `user_data_dir` is where a user's own files go."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Iterator

import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from editgan.errors import CheckpointError, InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` in one rename,
    on error it is removed and `path` is left untouched. The file gets the usual permissions
    (0666 minus the umask), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_directory(path: str | os.PathLike, *, start_from_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path` (`.<name>.partial-*`, the same parent, so paths relative
    to it are those of `path`); when the block completes it is moved into place, on error it is
    removed and `path` is left as it was. start_from_existing: the folder starts as a copy of an
    existing `path` (hard links where possible: our files are replaced by rename, never rewritten in
    place), which it then replaces (two renames; the old folder is removed once the new one is in
    place); otherwise `path` must not exist or be empty (InputError before anything is written)."""
    path = Path(path)
    if not start_from_existing and path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise InputError(f"{path} exists and is not an empty folder; choose another output folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        if start_from_existing and path.is_dir():
            shutil.copytree(path, stage, dirs_exist_ok=True, copy_function=link_or_copy)
        yield stage
        os.chmod(stage, 0o777 & ~_umask())
        if start_from_existing and path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(stage, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, path)  # over nothing, or over an empty folder
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """A hard link `dst` to `src` (a copy where links are not possible): safe for our files, which are
    replaced by rename and never rewritten in place."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data) -> None:
    """Write JSON atomically (UTF-8, indented, sorted keys)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Write a flat dict of tensors to safetensors atomically (contiguous CPU copies); the same
    tensors and metadata always give the same bytes."""
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {k: str(v) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp), metadata=metadata)
        if len(metadata) > 1:
            _sort_metadata(tmp)


def _sort_metadata(path: Path) -> None:
    """safetensors writes its metadata map in a random order: rewrite the header with the map's keys
    sorted (the same characters, so the same length and tensor offsets)."""
    with open(path, "r+b") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) <= size:  # always, unless a JSON writer escaped a character differently
            f.seek(8)
            f.write(text.ljust(size, b" "))


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; CheckpointError if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a valid safetensors file ({err})") from None


def read_tensor_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file ({} when it has none); CheckpointError if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a valid safetensors file ({err})") from None


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes; CheckpointError if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"file not found: {path}")
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    except RecursionError:
        raise CheckpointError(f"{path} nests too deep to read") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data


def user_data_dir() -> Path:
    """Where a user's own data lives (vector libraries and annotations of read-only bundles):
    $EDITGAN_HOME if set, else the platform's user data folder (e.g. ~/.local/share/editgan)."""
    home = os.environ.get("EDITGAN_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir("editgan", appauthor=False))
