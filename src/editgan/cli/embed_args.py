"""The embedding flags every command that embeds images shares (`embed`, `segment`, `batch apply`,
`train segmenter --images`, `annotations import`): one spelling, one default (the bundle's
EmbedSettings, manifest "embedding"), each flag overriding one field."""

from __future__ import annotations

import argparse

from editgan.bundle import DEFAULT_PERCEPTUAL
from editgan.inversion.settings import FAITHFUL, PAPER, PRESETS, EmbedSettings


def add_embed_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding (default: the bundle's settings, manifest \"embedding\")")
    g.add_argument("--embed-preset", choices=sorted(PRESETS), default=None,
                   help="paper (500 W+ steps), release (the official tool's 99), faithful (paper + pivotal tuning)")
    g.add_argument("--embed-steps", type=int, default=None, help=f"W+ optimisation steps (paper: {PAPER.steps})")
    g.add_argument("--embed-lr", type=float, default=None, help=f"W+ Adam learning rate (paper: {PAPER.lr})")
    g.add_argument("--perceptual", default=None,
                   help=f"perceptual distance: lpips, msssim_l1 or toon (default: the bundle's, else {DEFAULT_PERCEPTUAL})")
    g.add_argument("--noise", action="store_true", default=None, help="also optimise the noise maps (StyleGAN2 projector)")
    g.add_argument("--embed-seed", type=int, default=None, help="seed of the noise maps and of the tuning (default 0)")
    tune = g.add_mutually_exclusive_group()
    tune.add_argument("--tune", action="store_true", default=None,
                      help=f"pivotal tuning after the W+ embedding ({FAITHFUL.tune_steps} steps unless --tune-steps)")
    tune.add_argument("--no-tune", dest="tune", action="store_false", help="no pivotal tuning")
    g.add_argument("--tune-steps", type=int, default=None, help="pivotal tuning steps (0: none)")


def embed_settings_from_args(editor, args: argparse.Namespace) -> EmbedSettings:
    """The bundle's EmbedSettings (or --embed-preset's) with the flags given; InputError on bad values,
    before any work."""
    tune_steps = args.tune_steps
    if tune_steps is None and args.tune is not None:
        tune_steps = FAITHFUL.tune_steps if args.tune else 0
    return editor.embed_settings(args.embed_preset, steps=args.embed_steps, lr=args.embed_lr,
                                 perceptual=args.perceptual, optimize_noise=args.noise, seed=args.embed_seed,
                                 tune_steps=tune_steps)
