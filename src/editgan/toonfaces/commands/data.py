"""`editgan data toonfaces`: render a toonface split to PNG images, label PNGs and params.jsonl.

Splits are fixed seed ranges (train: seeds 0..999_999, test: 10_000_000..10_999_999), so the
same --split/--start/--n always writes the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editgan.errors import InputError
from editgan.progress import Progress
from editgan.toonfaces.canvas import MAX_SIZE, MIN_SIZE
from editgan.toonfaces.export import write_split


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="write procedural datasets to disk", description=__doc__)
    kinds = p.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    toon = kinds.add_parser("toonfaces", help="part-labelled procedural faces", description=__doc__)
    toon.add_argument("--n", type=int, required=True, help="number of faces")
    toon.add_argument("--size", type=int, default=128, help="image side in pixels, 64..256 (default 128)")
    toon.add_argument("--out", type=Path, required=True, help="output folder")
    toon.add_argument("--split", choices=("train", "test"), default="train")
    toon.add_argument("--start", type=int, default=0, help="first index within the split")
    toon.set_defaults(func=run_toonfaces)


def run_toonfaces(args: argparse.Namespace) -> int:
    if not MIN_SIZE <= args.size <= MAX_SIZE:
        raise InputError(f"--size must be in [{MIN_SIZE}, {MAX_SIZE}], got {args.size}")
    with Progress(args.n, "toonfaces", "img") as bar:
        path = write_split(args.out, args.n, args.size, args.split, args.start, progress=bar.update)
    print(f"wrote {args.n} {args.split} faces ({args.size}x{args.size}) to {args.out} ({path.name})")
    return 0
