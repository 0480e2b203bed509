"""`editgan segment`: label the parts of image files with a bundle's segmenter.

    editgan segment IMAGE... --bundle B [--latent W.safetensors|W.npy] [--embed-steps N] --out DIR

Each image is embedded into W+ (`Editor.embed`: the bundle's encoder, lr and perceptual distance) unless
--latent gives its w+ (one per image, in order: a file of [N, num_ws, w_dim] for N images); then
G(w+) is segmented and `<stem>.labels.png` (label indices, mode L), `<stem>.mask.png` (the
label scheme's colours) and `<stem>.overlay.png` (the image blended 50% with the mask) are
written to DIR. A file that cannot be read is reported and skipped; the exit status is 1 if any
failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editgan.bundle import DEFAULT_PERCEPTUAL
from editgan.cli.per_file import for_each_file
from editgan.editor import Editor, load
from editgan.errors import InputError
from editgan.io.images import load_image, to_uint8
from editgan.io.latents import load_wplus
from editgan.io.segmentation_files import write_segmentation


def segment_file(editor: Editor, image: Path, out: Path, *, wplus, steps: int, perceptual: str | None) -> int:
    """Segment one file (embedding it with `editor.embed` when wplus [1, num_ws, w_dim] is None);
    returns the number of distinct labels found."""
    target = load_image(image, editor.generator.config.image_size)
    if wplus is None:
        wplus = editor.embed(target, steps=steps, perceptual=perceptual).wplus
    labels = editor.segment(wplus)[0].cpu().numpy()
    write_segmentation(out, image.stem, to_uint8(target)[0], labels, editor.scheme)
    return len(set(labels.ravel().tolist()))


def run(args: argparse.Namespace) -> int:
    if args.embed_steps < 0:
        raise InputError(f"--embed-steps must be >= 0, got {args.embed_steps}")
    editor = load(args.bundle)
    editor.embedding_options(perceptual=args.perceptual)  # an unknown name fails before any work
    editor.segmenter  # loads it (and its label scheme); MissingWeightsError without one
    if editor.scheme is None:
        raise InputError(f"bundle {editor.bundle.path} has no label scheme to colour the masks with")
    latents = None
    if args.latent:
        cfg = editor.generator.config
        latents = load_wplus(args.latent, cfg.num_ws, cfg.w_dim)
        if latents.shape[0] != len(args.images):
            raise InputError(f"{args.latent} holds {latents.shape[0]} w+ for {len(args.images)} images; "
                             "give one w+ per image, in order")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def work(i: int, image: Path) -> str:
        n = segment_file(editor, image, out, steps=args.embed_steps, perceptual=args.perceptual,
                         wplus=latents[i:i + 1] if latents is not None else None)
        return f"{image} -> {out / (image.stem + '.labels.png')} ({n} parts)"

    return for_each_file("segment", args.images, work)


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="segment image files into parts with a bundle's segmenter")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--bundle", required=True, help="bundle name or directory")
    p.add_argument("--latent", help="w+ [N, num_ws, w_dim] for the N images, safetensors or .npy (skips embedding)")
    p.add_argument("--embed-steps", type=int, default=500, help="embedding steps per image (paper: 500)")
    p.add_argument("--perceptual", default=None,
                   help=f"embedding distance (default: the bundle's, else {DEFAULT_PERCEPTUAL})")
    p.add_argument("--out", default="outputs/segment", help="output directory")
    p.set_defaults(func=run)
