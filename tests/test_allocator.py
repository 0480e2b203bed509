"""The allocator setting every command runs under (`editgan.runtime.allocator`)."""

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

from editgan.cli import options
from editgan.errors import InputError
from editgan.runtime.allocator import keep_freed_memory


def has_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


glibc = pytest.mark.skipif(not has_glibc(), reason="glibc's mallopt only")

# A fresh interpreter mallocs 16 MiB, writes it, frees it and prints the resident size (KiB) it gave back.
RESIDENT_AFTER_FREE = textwrap.dedent("""
    import ctypes, sys
    from editgan.runtime.allocator import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def resident_kib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4
    size = 16 << 20
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    before = resident_kib()
    libc.free(block)
    print(before - resident_kib())
""")


@glibc
def test_freed_blocks_stay_for_reuse_only_when_asked():
    returned = {}
    for mode in ("default", "keep"):
        run = subprocess.run([sys.executable, "-c", RESIDENT_AFTER_FREE, mode], capture_output=True, text=True,
                             check=True)
        returned[mode] = int(run.stdout)
    assert returned["default"] > 15 * 1024  # glibc's default: the 16 MiB block goes back to the system
    assert returned["keep"] < 1024  # kept: the next call of the same size writes into resident pages
    assert keep_freed_memory() and keep_freed_memory()  # idempotent


def test_bad_retain_sizes_are_refused():
    for bad in (-1, True, 1.5, "1G"):
        with pytest.raises(InputError, match="retain_bytes"):
            keep_freed_memory(bad)


def test_every_command_runs_with_freed_memory_kept(monkeypatch):
    calls = []
    monkeypatch.setattr(options, "keep_freed_memory", lambda: calls.append(1) or True)
    options.apply_runtime(argparse.Namespace())
    assert calls == [1]
