"""`editgan train measures`: retrain the toonface measuring networks (attribute + identity).

Seeded and deterministic on the CPU; the defaults reproduce the shipped weights (about 20 min on
one thread). Writes attribute.safetensors, identity.safetensors and measures.json to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editgan.cli.options import DEVICE, THREADS, require_cpu
from editgan.errors import InputError
from editgan.toonfaces.measure_nets import asset_dir
from editgan.toonfaces.measures_training import train_measures


def register_train(train_subparsers: argparse._SubParsersAction) -> None:
    """Add `measures` to the `editgan train` command group."""
    p = train_subparsers.add_parser("measures", help="retrain the toonface attribute and identity networks",
                              description=__doc__)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the package assets)")
    p.add_argument("--attr-steps", type=int, default=2000, help="optimiser steps of the attribute network")
    p.add_argument("--id-steps", type=int, default=1000, help="optimiser steps of the identity network")
    p.add_argument("--batch", type=int, default=64, help="images per step")
    p.add_argument("--attr-pool", type=int, default=16_000, help="rendered train faces for the attribute network")
    p.add_argument("--identities", type=int, default=6_000, help="train identities for the identity network")
    p.add_argument("--views", type=int, default=3, help="rendered views per train identity")
    p.add_argument("--eval-n", type=int, default=2_000, help="held-out test faces / pair images")
    p.add_argument("--seed", type=int, default=0)
    DEVICE.add(p)
    THREADS.add(p, default=1)  # the shipped weights were trained on one thread
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_cpu(args, "the measuring networks train on the CPU only (seeded: the defaults reproduce the shipped "
                      "weights)")
    for name in ("attr_steps", "id_steps", "batch", "attr_pool", "identities", "eval_n"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    if args.views < 2 or args.batch < 4:
        raise InputError("--views must be at least 2 and --batch at least 4")
    train_measures(args.out or asset_dir(), attr_pool=args.attr_pool, id_identities=args.identities,
                   id_views=args.views, attr_steps=args.attr_steps, id_steps=args.id_steps, batch=args.batch,
                   eval_n=args.eval_n, seed=args.seed, log=lambda msg: print(msg, flush=True))
    return 0
