"""`editgan segment`: label the parts of image files with a bundle's segmenter.

    editgan segment IMAGE... [--bundle B] [--latent W.safetensors|W.npy] [embedding flags] --out DIR

Each image is embedded (`Editor.embed` with the bundle's EmbedSettings and the embedding flags: W+,
then pivotal tuning when the settings tune) unless --latent gives its w+ (one per image, in order: a
file of [N, num_ws, w_dim] for N images, or one image's file from `editgan embed` with its tuning);
then G(w+) (G' when tuned) is segmented and `<stem>.labels.png` (label indices, mode L), `<stem>.mask.png` (the
label scheme's colours) and `<stem>.overlay.png` (the image blended 50% with the mask) are
written to DIR. A file that cannot be read is reported and skipped; the exit status is 1 if any
failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editgan.cli.options import BUNDLE, add_compute_args, add_embed_args, embed_settings_from_args
from editgan.cli.per_file import for_each_file
from editgan.editor import Editor, load
from editgan.errors import InputError
from editgan.io.images import load_image, to_uint8
from editgan.inversion.settings import EmbedSettings
from editgan.io.segmentation_files import write_segmentation


def segment_file(editor: Editor, image: Path, out: Path, *, wplus, settings: EmbedSettings) -> int:
    """Segment one file (embedding it with `editor.embed` when wplus [1, num_ws, w_dim] is None;
    `editor` draws the given wplus); returns the number of distinct labels found."""
    target = load_image(image, editor.generator.config.image_size)
    latent = editor.embed(target, settings=settings) if wplus is None else wplus
    labels = editor.segment(latent)[0].cpu().numpy()
    write_segmentation(out, image.stem, to_uint8(target)[0], labels, editor.scheme)
    return len(set(labels.ravel().tolist()))


def run(args: argparse.Namespace) -> int:
    editor = load(args.bundle, device=args.device, precision=args.precision)
    settings = embed_settings_from_args(editor, args)  # bad values fail before any work
    editor.segmenter  # loads it (and its label scheme); MissingWeightsError without one
    if editor.scheme is None:
        raise InputError(f"bundle {editor.bundle.path} has no label scheme to colour the masks with")
    latents, drawn_by = None, editor
    if args.latent:
        drawn_by, latents = editor.open_latent(args.latent)
        if latents.shape[0] != len(args.images):
            raise InputError(f"{args.latent} holds {latents.shape[0]} w+ for {len(args.images)} images; "
                             "give one w+ per image, in order")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def work(i: int, image: Path) -> str:
        n = segment_file(drawn_by, image, out, settings=settings,
                         wplus=latents[i:i + 1] if latents is not None else None)
        return f"{image} -> {out / (image.stem + '.labels.png')} ({n} parts)"

    return for_each_file("segment", args.images, work)


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="segment image files into parts with a bundle's segmenter")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    BUNDLE.add(p)
    add_compute_args(p, precision=True)
    p.add_argument("--latent", help="w+ [N, num_ws, w_dim] for the N images, safetensors or .npy (skips embedding; "
                                    "a tuned file from `editgan embed` is drawn by its tuned generator)")
    p.add_argument("--out", default="outputs/segment", help="output directory")
    add_embed_args(p)
    p.set_defaults(func=run)
