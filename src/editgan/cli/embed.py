"""`editgan embed`: embed image files into a bundle's W+ by optimisation.

Optimisation starts from the bundle encoder's E(x) when the bundle has an encoder (App. A.2),
else from w_avg broadcast.

For each IMAGE it writes, in --out, `<stem>.wplus.safetensors` ("wplus" [num_ws, w_dim], plus
"noise.<i>" [1, r, r] per conv layer with --noise; metadata: source, bundle, steps, perceptual,
loss, init) and `<stem>.recon.png` (the reconstruction). Images are embedded one at a time and each
result is written as soon as it is ready; a file that cannot be read is reported and skipped,
and the command exits 1 at the end if any failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editgan.bundle import DEFAULT_PERCEPTUAL
from editgan.cli.per_file import for_each_file
from editgan.editor import load
from editgan.errors import InputError
from editgan.invert import EMBEDDING_PRESETS
from editgan.invert_files import embed_file


def run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 0:
        raise InputError(f"--steps must be >= 0, got {args.steps}")
    editor = load(args.bundle)
    editor.embedding_options(args.preset, perceptual=args.perceptual)  # unknown names fail before any work
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def work(_: int, image: Path) -> str:
        loss = embed_file(editor, image, out, steps=args.steps, preset=args.preset, seed=args.seed,
                          optimize_noise=args.noise, lr=args.lr, perceptual=args.perceptual)
        return f"{image} -> {out / (image.stem + '.wplus.safetensors')} (loss {loss:.4f})"

    return for_each_file("embed", args.images, work)


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="embed images into a bundle's W+ space by optimisation")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--bundle", required=True, help="bundle name or directory")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (paper: 500; release: 99)")
    p.add_argument("--preset", choices=sorted(EMBEDDING_PRESETS), default=None,
                   help="embedding settings: the paper's or the official release's (lr schedule, encoder term, "
                        "last iterate); default: the bundle's lr and perceptual distance")
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default: the bundle's embedding.lr, else the paper's 1e-3)")
    p.add_argument("--perceptual", default=None,
                   help=f"perceptual distance: lpips, msssim_l1 or toon (default: the bundle's, else "
                        f"{DEFAULT_PERCEPTUAL})")
    p.add_argument("--noise", action="store_true", help="also optimise the noise maps (StyleGAN2 projector)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise maps")
    p.add_argument("--out", default="outputs/embed", help="output directory")
    p.set_defaults(func=run)
