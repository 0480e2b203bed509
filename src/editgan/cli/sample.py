"""`editgan sample`: images from a generator for a list of seeds, as PNGs plus a grid."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from editgan.cli.options import add_compute_args
from editgan.errors import InputError
from editgan.io.figures import make_figure
from editgan.io.images import save_png, to_uint8
from editgan.nn.stylegan2 import Generator


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                seeds.append(int(part))
    except ValueError:
        raise InputError(f"seeds must look like '0-7' or '1,5,9', got {text!r}") from None
    if not seeds:
        raise InputError("no seeds given")
    return seeds


@torch.no_grad()
def sample_to_dir(generator, seeds: list[int], out: Path, psi: float = 1.0, noise_mode: str = "const") -> Path:
    """Render one image per seed (z from the seed) to out/seedNNNN.png and out/grid.png (captioned by seed)."""
    out.mkdir(parents=True, exist_ok=True)
    z = torch.cat([generator.sample_z(1, seed=s) for s in seeds])
    images = to_uint8(generator(z, psi=psi, noise_mode=noise_mode))
    for seed, img in zip(seeds, images):
        save_png(out / f"seed{seed:04d}.png", img)
    return save_png(out / "grid.png", make_figure(images, captions=[f"seed {s}" for s in seeds]))


def run(args: argparse.Namespace) -> int:
    generator = Generator.from_pretrained(args.generator, device=args.device)
    t0 = time.perf_counter()
    grid = sample_to_dir(generator, parse_seeds(args.seeds), Path(args.out), args.psi, args.noise_mode)
    print(f"wrote {grid} ({time.perf_counter() - t0:.2f} s)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="sample images from a generator for a list of seeds")
    p.add_argument("generator", help="generator directory (generator.safetensors + generator.json)")
    p.add_argument("--seeds", default="0-7", help="seeds, e.g. 0-7 or 1,5,9")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--out", default="outputs/samples", help="output directory")
    add_compute_args(p)
    p.set_defaults(func=run)
