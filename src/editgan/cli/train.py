"""`editgan train gan|segmenter|measures|encoder`: StyleGAN2 training (single process or under torchrun);
the segmenter, measuring-network and encoder trainers live in their own modules and join this command group."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from editgan.bundle import open_bundle
from editgan.cli import train_encoder, train_features, train_segmenter
from editgan.cli.options import TRAINING_DEVICE, add_compute_args, add_progress_args
from editgan.errors import InputError
from editgan.nn.config import channels_for
from editgan.nn.feature_pyramid import FeaturePyramid
from editgan.nn.stylegan2 import Generator
from editgan.registry import TRAIN_COMMANDS
from editgan.runtime.precision import choose_precision
from editgan.train.data import open_source
from editgan.train.gan import GANTrainConfig
from editgan.train.gan_run import RunOptions, train_run


def parse_channels(text: str | None, resolution: int, base: int, cmax: int) -> dict[int, int]:
    """'4:256,8:256,...' -> {4: 256, ...}; None -> min(base // res, cmax) per resolution."""
    if not text:
        return channels_for(resolution, base, cmax)
    try:
        return {int(k): int(v) for k, v in (item.split(":") for item in text.split(","))}
    except ValueError:
        raise InputError(f"--channels must look like '4:256,8:256,16:128', got {text!r}") from None


def run_gan(args: argparse.Namespace) -> int:
    resume = Path(args.out) / "checkpoint" if (Path(args.out) / "checkpoint.json").is_file() else args.resume_from
    device = torch.device(args.device)
    precision = choose_precision(args.precision, device)
    if resume:  # the run's own configuration (data, resolution, widths...) wins over the flags; precision is ours
        config, features = GANTrainConfig.from_checkpoint(resume), None  # the checkpoint holds D's features
        if config.precision != precision:
            print(f"note: the run trained in {config.precision}; continuing in {precision} (--precision "
                  f"{args.precision}{', no fast bf16 on this machine' if args.precision == 'auto' else ''})")
            config = dataclasses.replace(config, precision=precision)
        if args.lr is not None and (args.lr, args.lr) != (config.lr_g, config.lr_d):
            print(f"note: the run trained at lr {config.lr_g:g} (G) / {config.lr_d:g} (D); continuing at {args.lr:g}")
            config = dataclasses.replace(config, lr_g=args.lr, lr_d=args.lr)
    else:
        features = FeaturePyramid.from_pretrained(args.features) if args.features else None
        channels = parse_channels(args.channels, args.resolution, args.channel_base, args.channel_max)
        config = GANTrainConfig(
            data=str(args.data),
            generator=dict(resolution=args.resolution, z_dim=args.z_dim, w_dim=args.w_dim,
                           num_mapping_layers=args.mapping_layers, channels=channels),
            discriminator=discriminator_fields(args.discriminator, channels, features, args.resolution,
                                               args.mbstd_group_size),
            discriminator_arch=args.discriminator, features=args.features, batch=args.batch,
            **({} if args.lr is None else dict(lr_g=args.lr, lr_d=args.lr)),
            r1_gamma=args.r1_gamma, pl_weight=args.pl_weight, style_mixing=args.style_mixing,
            ema_kimg=args.ema_kimg, seed=args.seed, init=args.grow_from, precision=precision)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal gradients slow x86 math several-fold; flushing them is harmless here
    grow_from = load_grow_source(args.grow_from) if args.grow_from and not resume else None

    def render_progress(i: int, n: int) -> None:
        if i % 5000 == 0 or i == n:
            print(f"preparing {config.data}: {i}/{n}", flush=True)

    source = open_source(config.data, config.generator["resolution"], count=args.pool, cache_dir=args.cache_dir,
                         progress=render_progress)
    opts = RunOptions(total_kimg=args.kimg, max_minutes=args.max_minutes, snapshot_every=args.snapshot_every,
                      checkpoint_every=args.checkpoint_every, metric_samples=args.metric_samples,
                      compile=args.compile, resume_from=args.resume_from,
                      compact_to=args.compact_to)
    train_run(config, source, args.out, opts, device=device, grow_from=grow_from, features=features)
    return 0


def discriminator_fields(arch: str, channels: dict[int, int], pyramid: FeaturePyramid | None,
                         resolution: int, mbstd_group_size: int | None = None) -> dict:
    """The discriminator config's fields: the StyleGAN2 D shares G's widths; a projected one takes
    its frozen feature pyramid's architecture. mbstd_group_size None: the config's default."""
    extra = {} if mbstd_group_size is None else {"mbstd_group_size": mbstd_group_size}
    if arch == "stylegan2":
        return dict(channels=channels, **extra)
    if pyramid is None:
        raise InputError("--discriminator projected needs --features DIR (a trained feature pyramid)")
    if pyramid.config.resolution != resolution:
        raise InputError(f"the feature pyramid takes {pyramid.config.resolution}px images, "
                         f"the run trains at {resolution}px")
    return dict(features=pyramid.config.to_json(), **extra)


def load_grow_source(where: str) -> Generator:
    """The generator to grow from: an existing directory with generator.json/.safetensors (a bundle
    or a run's generator/), else a packaged bundle name."""
    return Generator.from_pretrained(where) if Path(where).exists() else open_bundle(where).generator()


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train networks: gan, segmenter, encoder (and what domains add)")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    train_segmenter.register_train(sub)
    train_encoder.register_train(sub)
    train_features.register_train(sub)
    for name in TRAIN_COMMANDS.names():
        TRAIN_COMMANDS.get(name)(sub)
    g = sub.add_parser("gan", help="train a StyleGAN2 (resumes from OUT/checkpoint.json if present)")
    g.add_argument("--data", default="toonfaces", help="'toonfaces' or a folder / zip of images")
    g.add_argument("--out", required=True, help="run directory (checkpoint, generator/, samples/, log.jsonl)")
    g.add_argument("--resolution", type=int, default=64)
    g.add_argument("--channels", default=None, help="per-resolution widths, e.g. 4:256,8:256,16:128,32:64,64:32")
    g.add_argument("--channel-base", type=int, default=32768)
    g.add_argument("--channel-max", type=int, default=512)
    g.add_argument("--z-dim", type=int, default=512)
    g.add_argument("--w-dim", type=int, default=512)
    g.add_argument("--mapping-layers", type=int, default=8)
    g.add_argument("--batch", type=int, default=16)
    g.add_argument("--lr", type=float, default=None,
                   help=f"G's and D's learning rate (default {GANTrainConfig.lr_g}); on a resume, replaces the run's")
    g.add_argument("--r1-gamma", type=float, default=1.0)
    g.add_argument("--pl-weight", type=float, default=0.0, help="path-length regularisation weight (2 in config-f)")
    g.add_argument("--style-mixing", type=float, default=0.9)
    g.add_argument("--ema-kimg", type=float, default=10.0)
    g.add_argument("--kimg", type=float, default=1000, help="train until this many thousand images were seen")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly with a checkpoint after this long (Ctrl-C / SIGTERM do too)")
    g.add_argument("--snapshot-every", type=int, default=500, help="steps between sample grids / fd / export")
    g.add_argument("--checkpoint-every", type=int, default=200)
    g.add_argument("--metric-samples", "--fd-samples", dest="metric_samples", type=int, default=0,
                   help="samples for the data source's snapshot metric (toonfaces: fd_toon); 0: off")
    g.add_argument("--pool", type=int, default=50_000,
                   help="registered data sources (toonfaces): number of items to prepare")
    g.add_argument("--cache-dir", default="outputs/cache",
                   help="registered data sources (toonfaces): where the prepared pool is cached")
    g.add_argument("--grow-from", default=None, metavar="BUNDLE_OR_DIR",
                   help="start from this generator's weights (same mapping and block widths, resolution up to "
                        "--resolution); blocks it lacks fade in from a zero ToRGB")
    g.add_argument("--resume-from", default=None, metavar="PREFIX",
                   help="a new OUT starts from this checkpoint (PREFIX.json/.safetensors, full or compact)")
    g.add_argument("--compact-to", default=None, metavar="PREFIX",
                   help="also keep a compact checkpoint here (float16 networks, no optimiser moments)")
    g.add_argument("--discriminator", choices=["stylegan2", "projected"], default="stylegan2",
                   help="projected: trainable heads on a frozen feature pyramid's features (+ the image); "
                        "converges much faster on small data, needs --features")
    g.add_argument("--mbstd-group-size", type=int, default=None, metavar="N",
                   help="D's minibatch-stddev groups (a diversity signal; 0: off); default: stylegan2 4, projected 0")
    g.add_argument("--features", default=None, metavar="DIR",
                   help="the trained feature pyramid of a projected discriminator (`editgan train features`)")
    g.add_argument("--seed", type=int, default=0)
    add_compute_args(g, device=TRAINING_DEVICE, precision=True)
    g.add_argument("--compile", action="store_true",
                   help="torch.compile G and D (needs a C++ compiler on CPU; ~1 min at the start, faster steps)")
    add_progress_args(g, old_quiet=("--no-progress",))
    g.set_defaults(func=run_gan)
