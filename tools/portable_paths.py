"""Bring saved files up to the current formats with portable provenance paths, in place.

    python tools/portable_paths.py src/editgan/assets/bundles/toonfaces bench/results \
        --base /work/longrun/bundle128w

Every JSON file (and every latents safetensors file) under the given files or folders is passed
through `editgan.formats.rewrite_portable`: a file of a known kind is migrated to its current
format version (absolute provenance paths become relative to --base when they lie inside it, the
folder the bundle was built in, else bare names); any other JSON (bench results) has its absolute
paths rewritten the same way. Current files with portable paths are left byte for byte. Run it
after installing new bundle files or bench results; tests/test_formats.py fails while any packaged
bundle file or bench result holds an absolute path or an old format version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from editgan.errors import EditGANError
from editgan.formats import rewrite_portable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="files or folders to rewrite")
    ap.add_argument("--base", help="the folder the files were written in: paths inside it are kept relative to it")
    args = ap.parse_args(argv)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        ap.error(f"no such file or folder: {', '.join(missing)}")
    try:
        written = rewrite_portable(args.paths, base=args.base)
    except EditGANError as err:  # a malformed or newer file: each file is rewritten atomically, none half-written
        print(f"portable_paths: error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
