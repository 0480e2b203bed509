"""`editgan demo`: the main job on the default bundle.

Until the default bundle ships, this runs a clearly labelled stand-in: a small, randomly
initialised StyleGAN2 is built, sampled (with its feature maps) and saved, and saved/reloaded
through our checkpoint format to show the round trip.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from editgan.cli.sample import sample_to_dir
from editgan.io.native import load_generator, save_generator
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator

STAND_IN_CONFIG = GeneratorConfig(resolution=64, z_dim=128, w_dim=128, num_mapping_layers=4,
                                  channels={4: 128, 8: 128, 16: 64, 32: 64, 64: 32})


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    print("NOTE: no default bundle is installed yet; running the stand-in demo on a small RANDOMLY "
          "INITIALISED generator (its images are noise-like patterns, not faces).")
    torch.manual_seed(args.seed)
    generator = Generator(STAND_IN_CONFIG).eval().requires_grad_(False)
    generator.estimate_w_avg(n=2000)
    weights = save_generator(generator, out / "generator")
    generator = load_generator(out / "generator")
    t0 = time.perf_counter()
    grid = sample_to_dir(generator, list(range(8)), out / "samples", psi=0.7)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        _, feats = generator(generator.sample_z(1, seed=0), return_features=True)
    shapes = ", ".join(f"{tuple(f.shape[1:])}" for f in feats)
    print(f"generator: {STAND_IN_CONFIG.resolution}x{STAND_IN_CONFIG.resolution}, num_ws={generator.num_ws}, "
          f"saved to {weights}")
    print(f"feature maps S^0..S^{len(feats) - 1} (C, H, W): {shapes}")
    print(f"8 samples in {dt:.2f} s -> {grid}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the main job on the default bundle")
    p.add_argument("--out", default="outputs/demo", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
