"""`editgan edit`: learn an editing vector from an edited label map (EditGAN Sec. 3.3).

Reads w+ from a latent file (or samples it from a seed), the target segmentation y_edited from a
mask (label indices or a colour mask in the scheme's palette, the segmenter's size), optimises δw+ and writes to --out:
before.png, after.png, labels_before.png, labels_after.png (coloured), delta.safetensors
("delta" [num_ws, w_dim]) and wplus_after.safetensors; --save-vector adds it to the library.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from editgan.cli.options import (BUNDLE, EDIT_LR, EDIT_PRESET, EDIT_SEGMENTER, EDIT_STEPS, IDENTITY, VECTORS,
                                 add_compute_args)
from editgan.edit.settings import PAPER
from editgan.editor import load
from editgan.errors import InputError
from editgan.files import save_tensors
from editgan.io.images import save_png, to_uint8
from editgan.io.masks import read_mask
from editgan.progress import progress_bar

EDIT_PROGRESS = ("loss", "ce")  # shown beside an edit's progress bar: the total and the CE of each iterate


def add_source_args(p: argparse.ArgumentParser) -> None:
    """--bundle, --vectors, --device, --threads, --precision, --identity and the latent source (--latent or
    --seed, --psi)."""
    BUNDLE.add(p)
    VECTORS.add(p)
    add_compute_args(p, precision=True)
    IDENTITY.add(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--latent", help="w+ file: safetensors (tensor 'wplus', and the image's pivotal tuning when "
                                      "`editgan embed` tuned it) or .npy [num_ws, w_dim]")
    src.add_argument("--seed", type=int, help="sample w+ from this seed instead")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi with --seed")


def open_editor(args: argparse.Namespace):
    return load(args.bundle, device=args.device, vectors=args.vectors, identity=args.identity,
                precision=args.precision)


def source_wplus(editor, args: argparse.Namespace) -> tuple[object, torch.Tensor]:
    """(the Editor to draw it with, w+ [N, num_ws, w_dim]) from --latent (tuned by the tuning the file
    carries, if any) or --seed."""
    if args.latent is not None:
        editor, wplus = editor.open_latent(args.latent)
        if editor.tuning is not None:
            print(f"{args.latent}: using its pivotal tuning (the generator tuned for that image)")
        return editor, wplus
    return editor, editor.sample(args.seed, psi=args.psi)


def save_images(out: Path, editor, result) -> None:
    """before/after images and their coloured label maps (label indices when there is no scheme)."""
    save_png(out / "before.png", to_uint8(result.image_before)[0])
    save_png(out / "after.png", to_uint8(result.image_after)[0])
    for key, labels in (("before", result.labels_before), ("after", result.labels_after)):
        arr = labels[0].cpu().numpy()
        save_png(out / f"labels_{key}.png", editor.scheme.colorize(arr) if editor.scheme else arr.astype("uint8"))


def run(args: argparse.Namespace) -> int:
    editor = open_editor(args)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    indices = editor.part_indices(parts)
    if editor.scheme is None:
        raise InputError(f"bundle {editor.bundle.path} has no label scheme to read {args.target} with")
    target = torch.from_numpy(read_mask(Path(args.target), editor.scheme, editor.segmenter.config.out_size))
    editor, wplus = source_wplus(editor, args)
    if wplus.shape[0] != 1:
        raise InputError(f"{args.latent} holds {wplus.shape[0]} latents; edit learns from one")
    settings = editor.edit_settings(args.edit_preset, steps=args.edit_steps, lr=args.edit_lr, buffer=args.buffer,
                                    segmenter=args.edit_segmenter)
    with progress_bar(settings.steps + 1, "edit", EDIT_PROGRESS) as update:
        result, vector = editor.edit(wplus, target, indices, name=args.save_vector or "edit", settings=settings,
                                     progress=update)
    out = Path(args.out)
    save_images(out, editor, result)
    save_tensors(out / "delta.safetensors", {"delta": result.delta[0]}, {"format": "editgan-delta"})
    editor.save_latent(out / "wplus_after.safetensors", result.wplus_after)
    best = result.losses[result.best_step]
    print(f"kept step {result.best_step} ({settings.keep}): loss {best['loss']:.4f}, CE in region {best['ce']:.4f} "
          f"(step 0: {result.losses[0]['ce']:.4f}); wrote {out}")
    if args.save_vector:
        print(f"saved vector {args.save_vector!r} to {editor.library.add(vector, overwrite=args.overwrite)}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("edit", help="learn an editing vector from an edited label map (Sec. 3.3)")
    add_source_args(p)
    p.add_argument("--target", required=True, help="edited mask at the segmenter's size: label-index PNG (mode L/P/I), colour PNG in the "
                        "scheme's palette, or .npy")
    p.add_argument("--parts", required=True, help="edited part labels Q_edit, comma-separated names")
    p.add_argument("--out", required=True, help="output directory")
    EDIT_PRESET.add(p, old=("--preset",))
    EDIT_STEPS.add(p, old=("--steps",))
    EDIT_LR.add(p, old=("--lr",))
    EDIT_SEGMENTER.add(p)
    p.add_argument("--buffer", type=int, default=None, help=f"region buffer in pixels (paper: {PAPER.buffer})")
    p.add_argument("--save-vector", metavar="NAME", help="add the learned vector to the library under NAME")
    p.add_argument("--overwrite", action="store_true", help="replace an existing vector of that name")
    p.set_defaults(func=run)
