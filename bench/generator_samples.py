"""Sample grid of a bundle's generator next to rendered faces: the issue-4 sample figure.

Rows: rendered toonfaces (test split, for reference), G(z) at truncation 1.0, G(z) at 0.7 (the
same z per column; constant noise). One PNG.

    python bench/generator_samples.py --bundle toonfaces --out reports/default_generator_samples.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from editgan.bundle import open_bundle
from editgan.io.images import make_grid, save_png, to_uint8
from editgan.toonfaces.dataset import render_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--n", type=int, default=16, help="columns")
    ap.add_argument("--psi", type=float, nargs="+", default=[1.0, 0.7])
    ap.add_argument("--out", default="reports/default_generator_samples.png")
    args = ap.parse_args()
    G = open_bundle(args.bundle).generator()
    rows = [render_split("test", args.n, G.config.resolution)[1]]
    z = G.sample_z(args.n, seed=0)
    with torch.no_grad():
        rows += [to_uint8(G.synthesis(G.z_to_wplus(z, psi=psi), noise_mode="const")) for psi in args.psi]
    print(f"wrote {save_png(args.out, make_grid(np.concatenate(rows), cols=args.n))}")


if __name__ == "__main__":
    main()
