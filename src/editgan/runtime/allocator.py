"""The C allocator's reuse of freed memory, set once per process (glibc on Linux; elsewhere a no-op).

A one-image path allocates the same 2-22 MB tensors at every call (feature maps, the segmenters' hidden
values, their gradients). By default glibc serves such blocks by mmap and returns them to the system on
free (its threshold adapts only after the first large frees), so each call writes into fresh pages and
pays a page fault per 4 KiB (zero-fills of fresh buffers were among a profile's top costs).
`keep_freed_memory` serves blocks up to glibc's 32 MiB ceiling from the heap and keeps up to
`retain_bytes` of freed heap for reuse.
Measured in fresh processes alternately with and without it (`bench/allocator.py`): the display
segmenter's apply 34-36 -> 25-30 ms and the ensemble's 171-185 -> 140-153 ms (bf16, one thread). The
speed benches call it too, so that they time what the commands run. The price is resident memory: up
to `retain_bytes` of freed blocks stay with the process (full-size edits peaked 0.1-0.2 GB higher).
"""

from __future__ import annotations

import ctypes
import sys

from editgan.errors import InputError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems
DEFAULT_RETAIN_BYTES = 256 << 20


def keep_freed_memory(retain_bytes: int = DEFAULT_RETAIN_BYTES) -> bool:
    """Serve blocks up to 32 MiB from the heap and keep up to `retain_bytes` of freed memory for reuse,
    for the rest of the process. Returns True where applied (Linux with glibc), False where there is no
    such allocator (the call then changes nothing). Idempotent."""
    if isinstance(retain_bytes, bool) or not isinstance(retain_bytes, int) or not 0 <= retain_bytes < 1 << 62:
        raise InputError(f"retain_bytes must be a non-negative int, got {retain_bytes!r}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl's mallopt accepts and ignores these)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    retain = min(retain_bytes, 2**31 - 1)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1 and mallopt(M_TRIM_THRESHOLD, retain) == 1
