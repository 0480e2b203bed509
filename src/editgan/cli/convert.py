"""`editgan convert IN OUT`: a rosinality `.pt` or NVIDIA `.pkl` StyleGAN2 generator -> our format."""

from __future__ import annotations

import argparse

from editgan.errors import InputError
from editgan.io.foreign import FORMATS, load_foreign_generator


def parse_crop(text: str | None):
    """'64,0,384,512' -> (64, 0, 384, 512); 'none' -> (); None -> None (use the known crop, if any)."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    try:
        crop = tuple(int(v) for v in text.split(","))
    except ValueError:
        crop = ()
    if len(crop) != 4:
        raise InputError(f"--crop must be TOP,LEFT,HEIGHT,WIDTH (e.g. 64,0,384,512) or 'none', got {text!r}")
    return crop


def run(args: argparse.Namespace) -> int:
    crop = parse_crop(args.crop)
    generator, extras = load_foreign_generator(args.input, args.format, crop=crop or None, network=args.network,
                                               estimate_w_avg=not args.no_w_avg)
    if crop == ():
        generator.config.crop = None
    weights = generator.save_pretrained(args.output)
    cfg = generator.config
    print(f"read {extras['format']} generator: {cfg.resolution}x{cfg.resolution}, z_dim {cfg.z_dim}, "
          f"w_dim {cfg.w_dim}, {cfg.num_mapping_layers} mapping layers, widths "
          f"{[cfg.channels[r] for r in sorted(cfg.channels)]}" + (f", crop {cfg.crop}" if cfg.crop else ""))
    if extras.get("w_avg_estimated"):
        print("note: the file stores no average w; estimated it from 10000 samples")
    elif not extras.get("w_avg_present", True):
        print("note: the file stores no average w; w_avg left at zero (truncation will pull towards 0)")
    if extras.get("format") == "rosinality":
        if not extras.get("noise_present"):
            print("note: the file stores no noise buffers; noise_mode=const uses zero noise")
        print(f"note: rosinality files do not record the mapping lr multiplier; assumed {extras['mapping_lr_mul']}")
    print(f"wrote {weights} and {weights.with_suffix('.json')}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert a rosinality .pt or NVIDIA .pkl generator to our format",
                              description="Read a StyleGAN2 generator without running code from the file "
                                          "and write OUT/generator.safetensors + OUT/generator.json.")
    p.add_argument("input", help="rosinality stylegan2-pytorch .pt or NVIDIA stylegan2-ada/stylegan3 .pkl")
    p.add_argument("output", help="output directory")
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: detect)")
    p.add_argument("--network", default=None,
                   help="which generator: g_ema/g (rosinality) or G_ema/G (NVIDIA); default the EMA one")
    p.add_argument("--crop", default=None,
                   help="image content TOP,LEFT,HEIGHT,WIDTH inside the square canvas, or 'none' "
                        "(default: known crop of published files, e.g. the car model's 64,0,384,512)")
    p.add_argument("--no-w-avg", action="store_true",
                   help="do not estimate the average w when the file has none")
    p.set_defaults(func=run)
