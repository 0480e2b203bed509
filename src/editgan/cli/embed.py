"""`editgan embed`: embed image files into a bundle's W+ (and, with tuning, its generator).

Optimisation starts from the bundle encoder's E(x) when the bundle has an encoder (App. A.2), else
from w_avg broadcast; the settings are the bundle's (`EmbedSettings`, manifest "embedding") with the
flags given. For each IMAGE it writes, in --out, `<stem>.wplus.safetensors` (w+, the pivotal tuning
when the settings tune, and how it was made: `editgan.inversion.files`) and `<stem>.recon.png`, and
prints how faithful the reconstruction is (PSNR, perceptual distance), warning when the image lies
far outside what the generator draws. Images are embedded one at a time and each result is written
as soon as it is ready; a file that cannot be read is reported and skipped, and the command exits 1
at the end if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from editgan.cli.options import BUNDLE, add_compute_args, add_embed_args, embed_settings_from_args
from editgan.cli.per_file import for_each_file
from editgan.editor import load
from editgan.inversion.files import embed_file, latent_path


def fidelity_line(editor, result) -> str:
    """'PSNR .. dB, <distance> ..' of the reconstruction (and of the W+ pivot when tuned); warnings go to stderr."""
    line = result.fidelity[0].describe()
    if result.tunings:
        line += f" (W+ alone: {result.pivot_fidelity[0].describe()})"
    warning = editor.fidelity_warning(result.pivot_fidelity[0])
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return line


def run(args: argparse.Namespace) -> int:
    editor = load(args.bundle, device=args.device, precision=args.precision)
    settings = embed_settings_from_args(editor, args)  # bad values fail before any work
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def work(_: int, image: Path) -> str:
        result = embed_file(editor, image, out, settings)
        tuned = ", tuned" if result.tunings else ""
        return f"{image} -> {latent_path(out, image)} ({fidelity_line(editor, result)}{tuned})"

    return for_each_file("embed", args.images, work)


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="embed images into a bundle's W+ space by optimisation")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    BUNDLE.add(p)
    add_compute_args(p, precision=True)
    p.add_argument("--out", default="outputs/embed", help="output directory")
    add_embed_args(p, old={"--embed-preset": ("--preset",), "--embed-steps": ("--steps",), "--embed-lr": ("--lr",),
                           "--embed-seed": ("--seed",)})  # the spellings before the shared embedding flags
    p.set_defaults(func=run)
