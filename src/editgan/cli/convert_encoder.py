"""`editgan convert-encoder IN OUT`: the EditGAN release's encoder `.pth` -> OUT/encoder.json/.safetensors."""

from __future__ import annotations

import argparse

from editgan.io.editgan_encoder import install_editgan_encoder


def run(args: argparse.Namespace) -> int:
    weights = install_editgan_encoder(args.input, args.output)
    print(f"wrote {weights} and {weights.with_suffix('.json')} (EditGAN release FPN encoder)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("convert-encoder", help="convert the EditGAN release's encoder checkpoint to our format",
                              description="Read the official EditGAN encoder (.pth, {'model_state_dict': ...}) "
                                          "without running code from the file and write OUT/encoder.safetensors "
                                          "+ OUT/encoder.json; OUT may be a bundle (its shape must match).")
    p.add_argument("input", help="the release's encoder checkpoint (.pth)")
    p.add_argument("output", help="output directory (a bundle, to use it for embedding)")
    p.set_defaults(func=run)
