"""`editgan batch apply`: editing vectors on many inputs, resumable, single-process or under torchrun.

    editgan batch apply faces/*.png latents/*.wplus.safetensors --vector smile=1 \
        --vector close_eyes=0.8+gaze_left --refine-steps 30 --out outputs/batch
    torchrun --nproc_per_node 2 -m editgan.cli batch apply ...     # same files, shared work

Each --vector is one set (vectors joined by '+', each NAME or NAME=SCALE; no scale: the vector's
default). See `editgan.edit.batch` for the output layout and how reruns skip finished items.
"""

from __future__ import annotations

import argparse
import sys

import torch

from editgan.cli.edit import open_editor
from editgan.cli.options import (BUNDLE, IDENTITY, REFINE_STEPS, VECTORS, add_compute_args, add_embed_args,
                                 embed_settings_from_args)
from editgan.cli.vector import parse_vector_spec
from editgan.edit.batch import BatchRunner
from editgan.errors import InputError
from editgan.runtime.distributed import process_group, run_on_every_rank


def parse_vector_set(spec: str) -> dict[str, float | None]:
    """'smile=1+gaze_left' -> {'smile': 1.0, 'gaze_left': None}; InputError on a repeated name."""
    out: dict[str, float | None] = {}
    for part in spec.split("+"):
        name, scale = parse_vector_spec(part.strip())
        if name in out:
            raise InputError(f"--vector {spec!r} names {name!r} twice")
        out[name] = scale
    return out


def run_apply(args: argparse.Namespace) -> int:
    with process_group(torch.device(args.device)) as info:  # barrier + destroy on every exit path
        if info.world_size > 1 and args.device.startswith("cuda"):
            args.device = f"cuda:{info.local_rank}"
        prefix = f"[rank {info.rank}] " if info.world_size > 1 else ""
        runners: list[BatchRunner] = []

        def share():
            editor = open_editor(args)
            runners.append(BatchRunner(editor, [parse_vector_set(s) for s in args.vector], args.out,
                                       refine_steps=args.refine_steps, embed=embed_settings_from_args(editor, args),
                                       log=lambda line: print(prefix + line, flush=True)))
            return runners[0].run_share(args.inputs, info)

        # every rank reaches the exchange, also when its own setup or share raised
        reports = run_on_every_rank(share, info)
        report = runners[0].finish(args.inputs, reports, info)
    failed = report.count("failed")
    if info.is_main:
        print(f"{report.count('done')} items done, {report.count('skipped')} already done, {failed} failed; "
              f"manifest: {runners[0].out / 'manifest.json'}")
        if failed:
            print(f"editgan batch: {failed} items failed (see the manifest)", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("batch", help="apply editing vectors to many images or latents (resumable)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("apply", help="apply vector sets to images or latents: edited images and w+")
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="latent files (.safetensors, .npy) and/or images")
    q.add_argument("--vector", action="append", required=True, metavar="NAME[=S][+NAME[=S]...]",
                   help="one vector set (composed by summation); repeat for more sets")
    REFINE_STEPS.add(q, old=("--refine",))
    q.add_argument("--out", required=True, help="output directory")
    BUNDLE.add(q)
    VECTORS.add(q)
    add_compute_args(q, precision=True)
    IDENTITY.add(q)
    add_embed_args(q, old={"--embed-seed": ("--seed",)})
    q.set_defaults(func=run_apply)
