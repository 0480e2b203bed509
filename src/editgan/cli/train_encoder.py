"""`editgan train encoder`: train a bundle's image encoder (App. A.2) with its generator frozen.

Resumes from OUT/checkpoint.json when present (the checkpoint's configuration wins; a different
one on the command line is an error). Writes OUT/encoder.json/.safetensors at the end, and with
--install also into the bundle (recording provenance in its manifest). Runs single-process or
under torchrun (data parallel).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from editgan.bundle import open_bundle, read_manifest, write_manifest
from editgan.cli.options import BUNDLE, PERCEPTUAL, TRAINING_DEVICE, add_compute_args, add_progress_args
from editgan.errors import InputError
from editgan.io.encoder_files import ENCODERS, load_encoder
from editgan.progress import Progress
from editgan.registry import DATA_SOURCES
from editgan.runtime import distributed as ddp
from editgan.runtime.precision import choose_precision
from editgan.train.data import open_source
from editgan.train.encoder_training import EncoderTrainConfig, EncoderTrainer


def run(args: argparse.Namespace) -> int:
    if args.steps < 0:
        raise InputError(f"--steps must be >= 0, got {args.steps}")
    device = torch.device(args.device)
    bundle = open_bundle(args.bundle)
    args.data = args.data or domain_data(bundle.domain)
    G = bundle.generator(device)
    source = open_source(args.data, G.config.resolution, count=args.pool, cache_dir=args.cache_dir,
                         size=G.config.image_size)
    out = Path(args.out)
    prefix = out / "checkpoint"
    dist = ddp.init_from_env(device)
    precision = choose_precision(args.precision, device)
    if prefix.with_suffix(".json").is_file():
        trainer = EncoderTrainer.from_checkpoint(prefix, G, source, device, dist, precision=precision)
    else:
        architecture, shape = args.architecture, architecture_fields(args)
        init = load_init_encoder(args.init) if args.init else None
        if init is not None:
            architecture = init.architecture
            shape = {k: v for k, v in init.config.to_json().items()
                     if k not in ("resolution", "num_ws", "w_dim")}
        config = EncoderTrainConfig(
            data=args.data, architecture=architecture, batch=args.batch, lr=args.lr, warmup=args.warmup,
            seed=args.seed, perceptual=bundle.perceptual(args.perceptual), encoder=shape, init=args.init,
            precision=precision)
        trainer = EncoderTrainer(config, G, source, device, dist)
        if init is not None:
            trainer.start_from(init)
    bar = Progress(args.steps, "train encoder", initial=trainer.step_count) if dist.is_main else None

    def on_step(t: EncoderTrainer, stats: dict) -> None:
        if bar is not None:
            bar.update(1, **stats)

    reason = trainer.run(args.steps, max_minutes=args.max_minutes, checkpoint=prefix,
                         checkpoint_every=args.checkpoint_every, on_step=on_step)
    if bar is not None:
        bar.close()
    ddp.shutdown()
    if not dist.is_main:
        return 0
    provenance = {"data": trainer.config.data, "init": trainer.config.init, "steps": trainer.step_count,
                  "batch": trainer.config.batch, "warmup": trainer.config.warmup,
                  "perceptual": trainer.config.perceptual,
                  "train_seconds": round(trainer.train_seconds, 1), "device": str(device),
                  "processes": dist.world_size, "complete": reason == "done"}
    trainer.E.save_pretrained(out, provenance=provenance)
    print(f"stopped ({reason}) at step {trainer.step_count}; encoder {out / 'encoder.safetensors'}; "
          f"checkpoint {prefix}.json")
    if args.install:
        trainer.E.save_pretrained(bundle.path, provenance=provenance)
        manifest = read_manifest(bundle.path)
        manifest["provenance"] = {**manifest.get("provenance", {}), "encoder": provenance}
        write_manifest(bundle.path, manifest)
        print(f"installed the encoder into {bundle.path}")
    return 0


def architecture_fields(args: argparse.Namespace) -> dict:
    """The width flags that apply to --architecture (unset ones keep the config's defaults)."""
    if args.architecture == "fpn":
        fields = {"base_width": args.base_width, "fpn_channels": args.fpn_channels}
    else:
        fields = {"channels": args.channels, "max_channels": args.max_channels, "fpn_channels": args.fpn_channels}
    return {k: v for k, v in fields.items() if v is not None}


def domain_data(domain: str) -> str:
    """The data source registered for the bundle's domain (e.g. toonfaces renders); InputError when
    there is none (the trainer needs real images after --warmup)."""
    if domain in DATA_SOURCES:
        return domain
    raise InputError(f"no training data registered for the bundle's domain {domain!r}: pass --data FOLDER "
                     "(a folder or zip of real images at the generator's resolution)")


def load_init_encoder(where: str):
    """The encoder to fine-tune from (any architecture): an existing directory (a bundle or a run of
    this command) or encoder file, else a packaged bundle name."""
    return load_encoder(where) if Path(where).exists() else open_bundle(where).encoder()


def register_train(train_subparsers) -> None:
    """Add `encoder` to the `editgan train` command group."""
    p = train_subparsers.add_parser("encoder", help="train a bundle's image encoder (resumes from OUT/checkpoint.json)")
    BUNDLE.add(p)
    p.add_argument("--data", default=None, help="a folder / zip of real images, or a registered data source "
                                                "(toonfaces); default: the one registered for the bundle's domain")
    p.add_argument("--out", required=True, help="run directory (checkpoint, encoder.json/.safetensors)")
    p.add_argument("--steps", type=int, required=True, help="train until this many steps in total")
    p.add_argument("--warmup", type=int, default=0, help="first steps on GAN samples only (paper: 20000)")
    p.add_argument("--batch", type=int, default=8, help="global batch (paper: 8)")
    p.add_argument("--lr", type=float, default=3e-5, help="Adam learning rate (paper: 3e-5)")
    PERCEPTUAL.add(p)  # the paper trains with lpips
    p.add_argument("--init", default=None,
                   help="start from this encoder's weights (bundle or encoder directory), e.g. after "
                        "retraining the bundle's generator, or the EditGAN release's encoder installed with "
                        "`editgan convert-encoder`; its architecture overrides --architecture, --channels etc.")
    p.add_argument("--architecture", choices=sorted(ENCODERS), default="pyramid",
                   help="pyramid: our light pSp-style encoder; fpn: the EditGAN release's ResNet-50 FPN")
    p.add_argument("--channels", type=int, default=32, help="pyramid: backbone width at full resolution")
    p.add_argument("--max-channels", type=int, default=256, help="pyramid: backbone width cap")
    p.add_argument("--base-width", type=int, default=None, help="fpn: ResNet stem width (default 64)")
    p.add_argument("--fpn-channels", type=int, default=None,
                   help="pyramid / head input width (default: pyramid 128, fpn 512)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly with a checkpoint after this long (Ctrl-C / SIGTERM do too)")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--install", action="store_true", help="also write the encoder into the bundle")
    p.add_argument("--pool", type=int, default=50_000,
                   help="registered data sources (toonfaces): number of items to prepare")
    p.add_argument("--cache-dir", default="outputs/cache",
                   help="registered data sources (toonfaces): where the prepared pool is cached")
    p.add_argument("--seed", type=int, default=0)
    add_compute_args(p, device=TRAINING_DEVICE, precision=True)
    add_progress_args(p, old_quiet=("--no-progress",))
    p.set_defaults(func=run)
