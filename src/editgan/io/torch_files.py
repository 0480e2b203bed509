"""Reading `torch.save` files safely: header check, zip CRC check, then `torch.load(weights_only=True)`.

Every failure is one CheckpointError line; torch's multi-line advice (to turn weights_only off)
never reaches the user. `torch.load` here runs no code from the file.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from editgan.errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"  # torch.save since 1.6
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # torch.save before 1.6 (pickled magic)

_NEVER_RUN = "editgan never runs code from checkpoints"
# Lines of torch's weights-only error that are advice, not the reason.
_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1)", "(2)")


def is_torch_save_header(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a torch.save file (zip or legacy)."""
    return head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_MAGIC)


def verify_zip_members(path: Path) -> None:
    """CheckpointError naming the first member of the zip at `path` whose bytes fail its CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CheckpointError(f"{path} is truncated or corrupt (not a readable zip archive: {err}); "
                              "re-download it") from None
    if bad is not None:
        raise CheckpointError(f"{path} is corrupt: zip member '{bad}' fails its CRC check; re-download it")


def load_torch_file(path: str | Path, *, allow: tuple = (), hint: str = "") -> object:
    """Load a torch.save file of tensors and plain containers; one-line CheckpointError otherwise.

    allow: extra (class, "module.Name") pairs for torch.serialization.safe_globals (inert
    stand-ins only). hint: a sentence appended to the messages that suggest another reader.
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
    if head.startswith(ZIP_MAGIC):
        verify_zip_members(path)
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
