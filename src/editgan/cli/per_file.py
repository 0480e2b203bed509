"""Run a command's work once per input file: a bad file is reported on one line and skipped."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from editgan.errors import InputError


def for_each_file(command: str, names: list[str], work: Callable[[int, Path], str]) -> int:
    """Call work(index, path) for every file; it returns the line to print on success. An InputError
    skips that file with a message on stderr. Returns the exit code: 1 if any file failed, else 0."""
    failed = 0
    for i, name in enumerate(names):
        image = Path(name)
        try:
            print(work(i, image))
        except InputError as err:
            failed += 1
            print(f"editgan {command}: skipped {image}: {err}", file=sys.stderr)
    if failed:
        print(f"editgan {command}: {failed} of {len(names)} images failed", file=sys.stderr)
    return 1 if failed else 0
